package domainflow

import "fmt"

// Quotas are what the operator allows each user at once. Zero is unlimited.
type Quotas struct {
	// RunningCampaigns bounds the user's campaigns that are queued or
	// running: a start or resume past it is refused, not queued.
	RunningCampaigns int64
	// CampaignDomains bounds one campaign's total_domains.
	CampaignDomains int64
	// StoredDomains bounds the sum of total_domains over every campaign the
	// user has (drafts and ended ones too, until deleted): what their
	// domain rows may come to, known exactly when a campaign is created.
	StoredDomains int64
	// WebSockets bounds the event WebSockets open at once with one token,
	// on one instance.
	WebSockets int64
	// Proxies bounds the user's proxies.
	Proxies int64
}

// Usage is what a user has now of the quotas kept in the database.
// (WebSockets are counted by the instance that holds them.)
type Usage struct {
	RunningCampaigns int64 // campaigns queued or running
	StoredDomains    int64 // sum of total_domains of every campaign
	Proxies          int64
}

// over reports whether n exceeds limit (0: no limit).
func over(limit, n int64) bool { return limit > 0 && n > limit }

// CheckCampaignDomains refuses a campaign of total domains past the
// CampaignDomains quota: EQUOTADOMAINS, naming max_domains.
func (q Quotas) CheckCampaignDomains(total int64) error {
	if !over(q.CampaignDomains, total) {
		return nil
	}
	return &Error{Code: EQUOTADOMAINS,
		Message: fmt.Sprintf("The quota of domains per campaign is %d; this one would have %d.", q.CampaignDomains, total),
		Fields: []FieldError{{Pointer: "/generation/max_domains",
			Detail: fmt.Sprintf("gives %d domains; the quota per campaign is %d", total, q.CampaignDomains)}}}
}

// CheckStoredDomains refuses a campaign of total domains when the user's
// other campaigns already have stored of them and both together pass the
// StoredDomains quota: EQUOTASTORED.
func (q Quotas) CheckStoredDomains(stored, total int64) error {
	if !over(q.StoredDomains, stored+total) {
		return nil
	}
	return &Error{Code: EQUOTASTORED,
		Message: fmt.Sprintf("Your quota of domains for all your campaigns together is %d; the others have %d and this one has %d: delete campaigns to make room.",
			q.StoredDomains, stored, total)}
}

// CheckRunningCampaigns refuses to queue one more campaign when running are
// queued or running already and one more passes the RunningCampaigns
// quota: EQUOTARUNNING.
func (q Quotas) CheckRunningCampaigns(running int64) error {
	if !over(q.RunningCampaigns, running+1) {
		return nil
	}
	return &Error{Code: EQUOTARUNNING,
		Message: fmt.Sprintf("Your quota of campaigns queued or running at once is %d, and %d are: pause or cancel one, or wait for one to end.",
			q.RunningCampaigns, running)}
}

// CheckProxies refuses one more proxy past the Proxies quota when the user
// has n: EQUOTAPROXIES.
func (q Quotas) CheckProxies(n int64) error {
	if !over(q.Proxies, n+1) {
		return nil
	}
	return &Error{Code: EQUOTAPROXIES,
		Message: fmt.Sprintf("Your quota of proxies is %d, and you have %d: delete one first.", q.Proxies, n)}
}

// CheckWebSockets refuses one more event WebSocket past the WebSockets
// quota when n are open with the token: EQUOTAWEBSOCKETS.
func (q Quotas) CheckWebSockets(n int64) error {
	if !over(q.WebSockets, n+1) {
		return nil
	}
	return &Error{Code: EQUOTAWEBSOCKETS,
		Message: fmt.Sprintf("The quota of event WebSockets open at once with one token is %d, and %d are open on this server: close one first.", q.WebSockets, n)}
}
