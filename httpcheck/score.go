package httpcheck

import (
	"strings"

	"github.com/domainflow/domainflow"
)

// Score is the lead score (0-100) of an HTTP result:
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
// still earns its title and keywords. So with the default min_lead_score of
// 40, a 2xx page with a title is a lead, as is any page showing three of the
// keywords.
func Score(r domainflow.HTTPResult, keywordCount int) int {
	if r.Status != domainflow.CheckOK {
		return 0
	}
	score := 0
	if r.StatusCode >= 200 && r.StatusCode <= 299 {
		score += 30
	}
	if strings.TrimSpace(r.Title) != "" {
		score += 10
	}
	seen := make(map[string]bool, len(r.KeywordsFound))
	for _, k := range r.KeywordsFound {
		seen[strings.ToLower(k)] = true
	}
	k := len(seen)
	if keywordCount >= 0 && k > keywordCount {
		k = keywordCount
	}
	score += 15 * k
	return min(score, 100)
}
