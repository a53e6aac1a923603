package domainflow

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Resolver states.
const (
	ResolverActive  = "active"
	ResolverDemoted = "demoted" // out of rotation, probed now and then
)

// ResolverStats is what one of a campaign's resolvers has answered so far,
// summed over every step of the DNS phase.
type ResolverStats struct {
	Address   string     `json:"address"`
	State     string     `json:"state"`
	Queries   int64      `json:"queries"`
	Answers   int64      `json:"answers"`
	NXDomain  int64      `json:"nxdomain"`
	Timeouts  int64      `json:"timeouts"`
	Errors    int64      `json:"errors"`
	LastError string     `json:"last_error,omitempty"`
	DemotedAt *time.Time `json:"demoted_at,omitempty"`
	// Latency counts answers by time to answer, in LatencyBounds' buckets
	// (the last one for anything slower), so medians add up across steps
	// and instances.
	Latency []int64 `json:"latency,omitempty"`
}

// LatencyBounds are the upper bounds, in milliseconds, of ResolverStats'
// latency buckets.
var LatencyBounds = []float64{0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// ObserveLatency counts an answer that took ms milliseconds.
func (s *ResolverStats) ObserveLatency(ms float64) {
	if len(s.Latency) != len(LatencyBounds)+1 {
		s.Latency = make([]int64, len(LatencyBounds)+1)
	}
	i, _ := slices.BinarySearch(LatencyBounds, ms)
	s.Latency[i]++
}

// LatencyP50 is the median time to an answer in milliseconds (interpolated
// within its bucket), and false before any answer.
func (s *ResolverStats) LatencyP50() (float64, bool) {
	var n int64
	for _, c := range s.Latency {
		n += c
	}
	if n == 0 {
		return 0, false
	}
	half := float64(n) / 2
	var seen int64
	for i, c := range s.Latency {
		if c == 0 || float64(seen+c) < half {
			seen += c
			continue
		}
		lo := 0.0
		if i > 0 {
			lo = LatencyBounds[i-1]
		}
		hi := 2 * lo // the open last bucket
		if i < len(LatencyBounds) {
			hi = LatencyBounds[i]
		}
		return lo + (hi-lo)*(half-float64(seen))/float64(c), true
	}
	return math.NaN(), false
}

// Add sums what another step saw of the same resolver into s; the later
// state wins.
func (s *ResolverStats) Add(o ResolverStats) {
	s.Queries += o.Queries
	s.Answers += o.Answers
	s.NXDomain += o.NXDomain
	s.Timeouts += o.Timeouts
	s.Errors += o.Errors
	if o.LastError != "" {
		s.LastError = o.LastError
	}
	if o.State != "" {
		s.State, s.DemotedAt = o.State, o.DemotedAt
	}
	if len(o.Latency) > 0 {
		if len(s.Latency) != len(o.Latency) {
			s.Latency = make([]int64, len(o.Latency))
		}
		for i, c := range o.Latency {
			s.Latency[i] += c
		}
	}
}

// WildcardZone is a zone that answers every name: random labels under it
// resolve. What they resolve to is its wildcard answer.
type WildcardZone struct {
	Zone      string   `json:"zone"` // written like a TLD: ".ws", ".example.com"
	Addresses []string `json:"addresses"`
	CNAMEs    []string `json:"cnames,omitempty"`
}

// WildcardOf returns the wildcard zone whose answer res is, for name: the
// closest zone enclosing name whose answer holds every address res has (or
// the end of its CNAME chain). A name in a wildcard zone with an answer of
// its own is a real find.
func WildcardOf(zones []WildcardZone, name string, res DNSResult) (zone string, ok bool) {
	if res.Status != CheckOK {
		return "", false
	}
	name = "." + strings.TrimSuffix(strings.ToLower(name), ".")
	best := -1
	for i, z := range zones {
		if strings.HasSuffix(name, z.Zone) && len(name) > len(z.Zone) && (best < 0 || len(z.Zone) > len(zones[best].Zone)) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	z := zones[best]
	if n := len(res.CNAMEs); n > 0 && slices.Contains(z.CNAMEs, res.CNAMEs[n-1]) {
		return z.Zone, true
	}
	if len(res.Addresses) == 0 {
		return "", false
	}
	for _, a := range res.Addresses {
		if !slices.Contains(z.Addresses, a) {
			return "", false
		}
	}
	return z.Zone, true
}

// AsWildcard is res marked as the wildcard answer of zone: a DNS failure
// that keeps its addresses.
func (r DNSResult) AsWildcard(zone string) DNSResult {
	r.Status, r.Reason, r.WildcardZone = CheckError, ReasonWildcard, zone
	return r
}

// Zones are the zones a campaign's names fall in, closest first: each TLD
// and, for one of several labels, its parents (".co.uk", ".uk").
func Zones(tlds []string) []string {
	var out []string
	for _, t := range tlds {
		for z := t; z != ""; {
			if !slices.Contains(out, z) {
				out = append(out, z)
			}
			i := strings.IndexByte(z[1:], '.')
			if i < 0 {
				break
			}
			z = z[1+i:]
		}
	}
	return out
}
