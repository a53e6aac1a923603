package server

import (
	"encoding/json"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// configFromCreate builds a campaign's whole configuration from a create
// body. The API's config objects have the same JSON shape as the stored one,
// so each part given is decoded over a copy of the defaults: what the client
// sent wins, what it left out keeps its default.
func configFromCreate(body *api.CampaignCreate) (domainflow.CampaignConfig, error) {
	cfg := domainflow.CampaignConfig{
		DNS:      domainflow.DefaultDNSConfig(),
		HTTP:     domainflow.DefaultHTTPConfig(),
		Analysis: domainflow.DefaultAnalysisConfig(),
	}
	parts := []struct {
		from any
		to   any
	}{{body.Generation, &cfg.Generation}, {body.Dns, &cfg.DNS}, {body.Http, &cfg.HTTP}, {body.Analysis, &cfg.Analysis}}
	for _, p := range parts {
		b, err := json.Marshal(p.from)
		if err != nil {
			return cfg, err
		}
		if string(b) == "null" {
			continue
		}
		if err := json.Unmarshal(b, p.to); err != nil {
			return cfg, err
		}
	}
	cfg.Normalize()
	return cfg, nil
}

func apiConfig(cfg domainflow.CampaignConfig) (api.CampaignConfig, error) {
	var out api.CampaignConfig
	b, err := json.Marshal(cfg)
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(b, &out)
}

func apiCampaign(c *domainflow.Campaign) (api.Campaign, error) {
	cfg, err := apiConfig(c.Config)
	if err != nil {
		return api.Campaign{}, err
	}
	out := api.Campaign{
		Id: c.ID, Name: c.Name, Description: c.Description, Status: api.CampaignStatus(c.Status),
		Config: cfg, TotalDomains: c.TotalDomains, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		StartedAt: c.StartedAt, CompletedAt: c.CompletedAt, StalledSince: c.StalledSince,
	}
	if c.CurrentPhase != "" {
		p := api.Phase(c.CurrentPhase)
		out.CurrentPhase = &p
	}
	if c.Error != "" {
		out.Error = &c.Error
	}
	if c.Wildcards != nil {
		zones := make([]api.WildcardZone, len(c.Wildcards))
		for i, z := range c.Wildcards {
			zones[i] = api.WildcardZone{Zone: z.Zone, Addresses: z.Addresses}
			if z.Addresses == nil {
				zones[i].Addresses = []string{}
			}
			if len(z.CNAMEs) > 0 {
				zones[i].Cnames = &z.CNAMEs
			}
		}
		out.Wildcards = &zones
	}
	if len(c.Warnings) > 0 {
		warnings := make([]api.CampaignWarning, len(c.Warnings))
		for i, w := range c.Warnings {
			warnings[i] = api.CampaignWarning{Code: w.Code, Message: w.Message}
		}
		out.Warnings = &warnings
	}
	return out, nil
}

func apiCounts(t domainflow.PhaseCounts) api.PhaseCounts {
	return api.PhaseCounts{Generated: t.Generated, Validated: t.Validated, Failed: t.Failed, Skipped: t.Skipped, Wildcard: t.Wildcard}
}

func apiSummary(c *domainflow.Campaign) api.StatusSummary {
	processed, total, percent := c.Progress()
	out := api.StatusSummary{
		CampaignId:   c.ID,
		Status:       api.CampaignStatus(c.Status),
		TotalDomains: c.TotalDomains,
		Generated:    c.Counts.Generated,
		Overall:      apiCounts(c.Counts.Overall().Counts()),
		Dns:          apiCounts(c.Counts.DNS().Counts()),
		Http:         apiCounts(c.Counts.HTTP().Counts()),
		Analysis:     apiCounts(c.Counts.Analysis().Counts()),
		Leads:        c.Counts.LeadMatch,
		Progress:     api.Progress{Processed: processed, Total: total, Percent: percent},
		StalledSince: c.StalledSince,
		UpdatedAt:    c.UpdatedAt,
	}
	if c.CurrentPhase != "" {
		p := api.Phase(c.CurrentPhase)
		out.CurrentPhase = &p
	}
	return out
}

func apiDomain(d *domainflow.Domain) api.Domain {
	out := api.Domain{
		OffsetIndex: d.OffsetIndex, Name: d.Name, Tld: d.TLD, GeneratedAt: d.GeneratedAt,
		Status:    api.DomainFilterStatus(stateName(d.State)),
		DnsStatus: api.DNSStatus(d.DNSStatus()), HttpStatus: api.HTTPStatus(d.HTTPStatus()),
		LeadStatus: api.LeadStatus(d.LeadStatus()), LeadScore: d.LeadScore,
	}
	if r := d.DNSResult; r != nil {
		out.DnsResult = &api.DNSResult{
			Status: api.DNSStatus(r.Status), Resolver: optString(r.Resolver), Error: optString(r.Error),
			LatencyMs: &r.LatencyMS, CheckedAt: optTime(r),
		}
		if r.Reason != "" {
			reason := api.DNSResultReason(r.Reason)
			out.DnsResult.Reason = &reason
		}
		if r.Addresses != nil {
			out.DnsResult.Addresses = &r.Addresses
		}
		if r.Attempts > 0 {
			out.DnsResult.Attempts = &r.Attempts
		}
		if len(r.CNAMEs) > 0 {
			out.DnsResult.Cnames = &r.CNAMEs
		}
		if len(r.NS) > 0 {
			out.DnsResult.Ns = &r.NS
		}
		if len(r.MX) > 0 {
			mx := make([]api.MXRecord, len(r.MX))
			for i, m := range r.MX {
				mx[i] = api.MXRecord{Preference: int(m.Preference), Host: m.Host}
			}
			out.DnsResult.Mx = &mx
		}
		out.DnsResult.WildcardZone = optString(r.WildcardZone)
	}
	if r := d.LeadResult; r != nil {
		parts := make([]api.ScorePart, len(r.Breakdown))
		for i, p := range r.Breakdown {
			parts[i] = api.ScorePart{Reason: p.Reason, Points: p.Points}
		}
		out.ScoreBreakdown = &parts
	}
	if r := d.HTTPResult; r != nil {
		out.HttpResult = &api.HTTPResult{
			Status: api.HTTPStatus(r.Status), Url: optString(r.URL), Title: optString(r.Title),
			FinalUrl: optString(r.FinalURL), Error: optString(r.Error), ContentLength: &r.ContentLength,
			LatencyMs: &r.LatencyMS, ProxyId: r.ProxyID,
		}
		if !r.CheckedAt.IsZero() {
			out.HttpResult.CheckedAt = &r.CheckedAt
		}
		if r.StatusCode != 0 {
			out.HttpResult.StatusCode = &r.StatusCode
		}
		if r.KeywordsFound != nil {
			out.HttpResult.KeywordsFound = &r.KeywordsFound
		}
		if r.Truncated {
			out.HttpResult.Truncated = &r.Truncated
		}
		if r.Reason != "" {
			reason := api.HTTPResultReason(r.Reason)
			out.HttpResult.Reason = &reason
		}
	}
	return out
}

func optTime(r *domainflow.DNSResult) *time.Time {
	if r.CheckedAt.IsZero() {
		return nil
	}
	return &r.CheckedAt
}

func stateName(s domainflow.State) string {
	switch s {
	case domainflow.StateValidated:
		return domainflow.FilterValidated
	case domainflow.StateFailed:
		return domainflow.FilterFailed
	}
	return domainflow.FilterGenerated
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func apiProxy(p *domainflow.Proxy) api.Proxy {
	return api.Proxy{
		Id: p.ID, Name: p.Name, Protocol: api.ProxyProtocol(p.Protocol), Host: p.Host, Port: p.Port,
		Enabled: p.Enabled, HasCredentials: p.Username != "" || p.Password != "",
		Health: api.ProxyHealth(p.Health), LatencyMs: p.LatencyMS, LastCheckedAt: p.LastCheckedAt,
		LastError: optString(p.LastError), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}
