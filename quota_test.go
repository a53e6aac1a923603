package domainflow_test

import (
	"testing"

	"github.com/domainflow/domainflow"
)

// Each check lets a call reach its quota exactly and refuses the one past
// it with the quota's code; zero is no limit at all.
func TestQuotaChecks(t *testing.T) {
	q := domainflow.Quotas{RunningCampaigns: 2, CampaignDomains: 100, StoredDomains: 1000, WebSockets: 3, Proxies: 4}
	for _, c := range []struct {
		name      string
		fits, not error
		code      string
	}{
		{"running campaigns", q.CheckRunningCampaigns(1), q.CheckRunningCampaigns(2), domainflow.EQUOTARUNNING},
		{"campaign domains", q.CheckCampaignDomains(100), q.CheckCampaignDomains(101), domainflow.EQUOTADOMAINS},
		{"stored domains", q.CheckStoredDomains(900, 100), q.CheckStoredDomains(901, 100), domainflow.EQUOTASTORED},
		{"websockets", q.CheckWebSockets(2), q.CheckWebSockets(3), domainflow.EQUOTAWEBSOCKETS},
		{"proxies", q.CheckProxies(3), q.CheckProxies(4), domainflow.EQUOTAPROXIES},
	} {
		if c.fits != nil {
			t.Errorf("%s: the call that reaches the quota is refused: %v", c.name, c.fits)
		}
		if got := domainflow.ErrorCode(c.not); got != c.code {
			t.Errorf("%s: the call past the quota gives code %q, want %q", c.name, got, c.code)
		}
	}
	var none domainflow.Quotas
	for name, err := range map[string]error{
		"running campaigns": none.CheckRunningCampaigns(1 << 40), "campaign domains": none.CheckCampaignDomains(1 << 40),
		"stored domains": none.CheckStoredDomains(1<<40, 1<<40), "websockets": none.CheckWebSockets(1 << 40), "proxies": none.CheckProxies(1 << 40),
	} {
		if err != nil {
			t.Errorf("%s: a zero quota refuses: %v", name, err)
		}
	}
}
