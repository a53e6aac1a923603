package domainflow

import (
	"strings"
)

// ScorePart is one reason of a lead score and the points it earned.
type ScorePart struct {
	Reason string `json:"reason"`
	Points int    `json:"points"`
}

// Reasons of a score.
const (
	ScoreStatus2xx  = "status_2xx"
	ScoreTitle      = "title"
	ScoreKeyword    = "keyword:" // followed by the keyword found
	ScoreCap        = "cap"      // negative: what the cap at 100 took away
	pointsStatus2xx = 30
	pointsTitle     = 10
	pointsKeyword   = 15
)

// ScoreParts is the lead score (0-100) of an HTTP result, with its
// breakdown (the points of the parts add up to the score):
//
//	score = 0                                    when r.Status is not "ok"
//	score = min(100, 30·[200 ≤ r.StatusCode ≤ 299]
//	               + 10·[r.Title is not blank]
//	               + 15·k)                       otherwise
//
// where k is the number of distinct keywords in r.KeywordsFound (compared
// case-insensitively), at most keywordCount, the number of keywords the
// campaign configures (a negative keywordCount sets no such limit). A page
// that only redirects or fails (3xx, 4xx, 5xx) earns no status points but
// still earns its title and keywords. The score ranks leads; whether a
// domain is a lead at all is PendingDomain.Scored's rule (a campaign with
// keywords needs one found).
func ScoreParts(r HTTPResult, keywordCount int) (int, []ScorePart) {
	if r.Status != CheckOK {
		return 0, nil
	}
	var parts []ScorePart
	if r.StatusCode >= 200 && r.StatusCode <= 299 {
		parts = append(parts, ScorePart{ScoreStatus2xx, pointsStatus2xx})
	}
	if strings.TrimSpace(r.Title) != "" {
		parts = append(parts, ScorePart{ScoreTitle, pointsTitle})
	}
	seen := make(map[string]bool, len(r.KeywordsFound))
	for _, k := range r.KeywordsFound {
		k = strings.ToLower(k)
		if seen[k] || (keywordCount >= 0 && len(seen) >= keywordCount) {
			continue
		}
		seen[k] = true
		parts = append(parts, ScorePart{ScoreKeyword + k, pointsKeyword})
	}
	score := 0
	for _, p := range parts {
		score += p.Points
	}
	if score > 100 {
		parts = append(parts, ScorePart{ScoreCap, 100 - score})
		score = 100
	}
	return score, parts
}

// LeadResult is what analysis found for one domain: the breakdown of its
// score.
type LeadResult struct {
	Breakdown []ScorePart `json:"score_breakdown"`
}
