package domainflow_test

import (
	"slices"
	"testing"

	"github.com/domainflow/domainflow"
)

func TestScore(t *testing.T) {
	ok := func(code int, title string, found ...string) domainflow.HTTPResult {
		return domainflow.HTTPResult{Status: domainflow.CheckOK, StatusCode: code, Title: title, KeywordsFound: found}
	}
	tests := []struct {
		name     string
		r        domainflow.HTTPResult
		keywords int
		want     int
	}{
		{"empty 200", ok(200, ""), 0, 30},
		{"204 counts as 2xx", ok(204, ""), 0, 30},
		{"200 with title", ok(200, "Shop"), 0, 40},
		{"blank title earns nothing", ok(200, "   "), 0, 30},
		{"200, title, one keyword", ok(200, "Shop", "widgets"), 2, 55},
		{"200, title, two keywords", ok(200, "Shop", "widgets", "pricing"), 2, 70},
		{"capped at 100", ok(200, "Shop", "a", "b", "c", "d", "e"), 5, 100},
		{"exactly 100", ok(200, "Shop", "a", "b", "c", "d"), 4, 100},
		{"404 with title and keyword", ok(404, "Not found", "widgets"), 1, 25},
		{"301 without anything", ok(301, ""), 0, 0},
		{"500", ok(500, ""), 1, 0},
		{"299 is 2xx, 300 is not", ok(299, ""), 0, 30},
		{"keywords counted once, case-insensitively", ok(200, "", "Widgets", "widgets"), 2, 45},
		{"no more keywords than configured", ok(200, "", "a", "b", "c"), 1, 45},
		{"negative keyword count sets no limit", ok(200, "", "a", "b", "c"), -1, 75},
		{"error scores 0", domainflow.HTTPResult{Status: domainflow.CheckError, StatusCode: 200, Title: "x", KeywordsFound: []string{"a"}}, 1, 0},
		{"timeout scores 0", domainflow.HTTPResult{Status: domainflow.CheckTimeout, StatusCode: 200, Title: "x"}, 0, 0},
		{"pending scores 0", domainflow.HTTPResult{Status: domainflow.CheckPending}, 0, 0},
		{"zero value scores 0", domainflow.HTTPResult{}, 3, 0},
	}
	for _, tt := range tests {
		if got, _ := domainflow.ScoreParts(tt.r, tt.keywords); got != tt.want {
			t.Errorf("%s: Score = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestScoreParts(t *testing.T) {
	tests := []struct {
		name     string
		r        domainflow.HTTPResult
		keywords int
		want     []domainflow.ScorePart
	}{
		{"2xx, title, keywords", domainflow.HTTPResult{Status: "ok", StatusCode: 200, Title: "Shop", KeywordsFound: []string{"Widgets", "pricing", "widgets"}}, 2,
			[]domainflow.ScorePart{{"status_2xx", 30}, {"title", 10}, {"keyword:widgets", 15}, {"keyword:pricing", 15}}},
		{"capped", domainflow.HTTPResult{Status: "ok", StatusCode: 200, Title: "Shop", KeywordsFound: []string{"a", "b", "c", "d", "e"}}, 5,
			[]domainflow.ScorePart{{"status_2xx", 30}, {"title", 10}, {"keyword:a", 15}, {"keyword:b", 15}, {"keyword:c", 15}, {"keyword:d", 15}, {"keyword:e", 15}, {"cap", -15}}},
		{"a 404 page", domainflow.HTTPResult{Status: "ok", StatusCode: 404}, 0, nil},
		{"no answer", domainflow.HTTPResult{Status: "timeout"}, 0, nil},
	}
	for _, tt := range tests {
		score, parts := domainflow.ScoreParts(tt.r, tt.keywords)
		sum := 0
		for _, p := range parts {
			sum += p.Points
		}
		if sum != score || !slices.Equal(parts, tt.want) {
			t.Errorf("%s: ScoreParts = %d, %v (sum %d); want %v", tt.name, score, parts, sum, tt.want)
		}
	}
}
