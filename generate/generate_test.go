package generate_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
)

func cfg(pattern, charset string, length int, constant string, tlds ...string) domainflow.GenerationConfig {
	return domainflow.GenerationConfig{
		PatternType:    pattern,
		ConstantString: constant,
		CharacterSet:   charset,
		VariableLength: length,
		TLDs:           tlds,
		MaxDomains:     math.MaxInt64,
	}
}

func mustNew(t testing.TB, g domainflow.GenerationConfig) *generate.Generator {
	t.Helper()
	gen, err := generate.New(g)
	if err != nil {
		t.Fatalf("New(%+v): %v", g, err)
	}
	return gen
}

// TestNamesInOrder lists whole spaces by hand, so it pins down the order of
// indexes: TLD least significant, then the last variable character.
func TestNamesInOrder(t *testing.T) {
	tests := []struct {
		name string
		g    domainflow.GenerationConfig
		want []string
	}{
		{"prefix", cfg(domainflow.PatternPrefix, "ab", 2, "x", ".com", ".net"), []string{
			"aax.com", "aax.net", "abx.com", "abx.net", "bax.com", "bax.net", "bbx.com", "bbx.net",
		}},
		{"suffix", cfg(domainflow.PatternSuffix, "ab", 2, "x", ".com", ".net"), []string{
			"xaa.com", "xaa.net", "xab.com", "xab.net", "xba.com", "xba.net", "xbb.com", "xbb.net",
		}},
		{"both", cfg(domainflow.PatternBoth, "ab", 1, "x", ".com", ".net"), []string{
			"axa.com", "axa.net", "axb.com", "axb.net", "bxa.com", "bxa.net", "bxb.com", "bxb.net",
		}},
		{"prefix, no constant, base 3", cfg(domainflow.PatternPrefix, "xyz", 2, "", ".io"), []string{
			"xx.io", "xy.io", "xz.io", "yx.io", "yy.io", "yz.io", "zx.io", "zy.io", "zz.io",
		}},
		{"suffix, three TLDs", cfg(domainflow.PatternSuffix, "01", 1, "shop", ".com", ".net", ".co.uk"), []string{
			"shop0.com", "shop0.net", "shop0.co.uk", "shop1.com", "shop1.net", "shop1.co.uk",
		}},
		{"both, no constant", cfg(domainflow.PatternBoth, "ab", 1, "", ".com"), []string{
			"aa.com", "ab.com", "ba.com", "bb.com",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := mustNew(t, tt.g)
			if gen.Space() != int64(len(tt.want)) {
				t.Fatalf("Space() = %d, want %d", gen.Space(), len(tt.want))
			}
			var got []string
			for i := range gen.Space() {
				name, _ := gen.Name(i)
				got = append(got, name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("names\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestNameAt spot-checks indexes in spaces too big to list, in particular
// that the first variable part of "both" is the more significant one.
func TestNameAt(t *testing.T) {
	both := cfg(domainflow.PatternBoth, "ab", 2, "x", ".com", ".net")
	alnum := cfg(domainflow.PatternPrefix, "abcdefghijklmnopqrstuvwxyz0123456789", 4, "-shop", ".com", ".net", ".org")
	tests := []struct {
		g       domainflow.GenerationConfig
		idx     int64
		want    string
		wantTLD string
	}{
		{both, 0, "aaxaa.com", ".com"},
		{both, 1, "aaxaa.net", ".net"},
		{both, 2, "aaxab.com", ".com"},
		{both, 6, "aaxbb.com", ".com"},
		{both, 8, "abxaa.com", ".com"},
		{both, 16, "baxaa.com", ".com"},
		{both, 31, "bbxbb.net", ".net"},
		{alnum, 0, "aaaa-shop.com", ".com"},
		{alnum, 2, "aaaa-shop.org", ".org"},
		{alnum, 3, "aaab-shop.com", ".com"},
		{alnum, 3 * 35, "aaa9-shop.com", ".com"},
		{alnum, 3 * 36, "aaba-shop.com", ".com"},
		{alnum, 3*36*36*36*36 - 1, "9999-shop.org", ".org"},
	}
	for _, tt := range tests {
		gen := mustNew(t, tt.g)
		name, tld := gen.Name(tt.idx)
		if name != tt.want || tld != tt.wantTLD {
			t.Errorf("%s/%d: Name(%d) = %q, %q; want %q, %q",
				tt.g.PatternType, tt.g.VariableLength, tt.idx, name, tld, tt.want, tt.wantTLD)
		}
		if got := gen.TLDAt(tt.idx); got != tt.wantTLD {
			t.Errorf("TLDAt(%d) = %q, want %q", tt.idx, got, tt.wantTLD)
		}
	}
}

// TestWholeSpace walks complete small spaces: every name must be distinct,
// every TLD must take an equal share, and the three ways of asking for a
// name must agree.
func TestWholeSpace(t *testing.T) {
	tests := []domainflow.GenerationConfig{
		cfg(domainflow.PatternPrefix, "abc", 3, "x", ".com", ".net"),
		cfg(domainflow.PatternSuffix, "abcde", 2, "", ".com", ".net", ".org"),
		cfg(domainflow.PatternBoth, "ab1", 2, "-", ".io", ".ai"),
		cfg(domainflow.PatternBoth, "z", 3, "q", ".com", ".net", ".org", ".dev"),
		cfg(domainflow.PatternPrefix, "0123456789", 4, "", ".de"),
	}
	for _, g := range tests {
		t.Run(g.PatternType+"/"+g.CharacterSet, func(t *testing.T) {
			gen := mustNew(t, g)
			seen := make(map[string]int64, gen.Space())
			perTLD := map[string]int64{}
			buf := []byte("keep:")
			for i := range gen.Space() {
				name, tld := gen.Name(i)
				if prev, dup := seen[name]; dup {
					t.Fatalf("Name(%d) = %q, the same as Name(%d)", i, name, prev)
				}
				seen[name] = i
				perTLD[tld]++
				if !strings.HasSuffix(name, tld) {
					t.Fatalf("Name(%d) = %q does not end in its TLD %q", i, name, tld)
				}
				if got := gen.TLDAt(i); got != tld {
					t.Fatalf("TLDAt(%d) = %q, Name says %q", i, got, tld)
				}
				buf = gen.AppendName(buf[:5], i)
				if string(buf[:5]) != "keep:" || string(buf[5:]) != name {
					t.Fatalf("AppendName(%q, %d) = %q, want %q", "keep:", i, buf, "keep:"+name)
				}
			}
			for _, tld := range g.TLDs {
				if want := gen.Space() / int64(len(g.TLDs)); perTLD[tld] != want {
					t.Errorf("TLD %q used %d times, want %d", tld, perTLD[tld], want)
				}
			}
			if len(perTLD) != len(g.TLDs) {
				t.Errorf("TLDs used: %v, want exactly %q", perTLD, g.TLDs)
			}
		})
	}
}

func TestSpace(t *testing.T) {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	tests := []struct {
		name string
		g    domainflow.GenerationConfig
		want int64
	}{
		{"one name", cfg(domainflow.PatternPrefix, "a", 1, "", ".com"), 1},
		{"prefix", cfg(domainflow.PatternPrefix, "ab", 2, "x", ".com", ".net"), 8},
		{"both doubles the digits", cfg(domainflow.PatternBoth, "abc", 2, "x", ".com", ".net"), 81 * 2},
		{"one character, longest label", cfg(domainflow.PatternBoth, "a", 31, "x", ".com", ".net", ".org"), 3},
		{"36^12, just under the limit", cfg(domainflow.PatternPrefix, alnum, 12, "", ".com"), 4738381338321616896},
		{"2^62 with one TLD", cfg(domainflow.PatternSuffix, "ab", 62, "", ".com"), 1 << 62},
		{"2^62 split over both parts", cfg(domainflow.PatternBoth, "ab", 31, "", ".com"), 1 << 62},
		{"2^61 × 3 TLDs", cfg(domainflow.PatternPrefix, "ab", 61, "", ".a", ".b", ".c"), 3 << 61},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := generate.Space(tt.g)
			if err != nil || got != tt.want {
				t.Fatalf("Space = %d, %v; want %d", got, err, tt.want)
			}
			gen := mustNew(t, tt.g)
			if gen.Space() != tt.want {
				t.Errorf("Generator.Space() = %d, want %d", gen.Space(), tt.want)
			}
			// The last index must work and be all last characters, last TLD.
			cs := tt.g.CharacterSet
			name, tld := gen.Name(tt.want - 1)
			if last := tt.g.TLDs[len(tt.g.TLDs)-1]; tld != last || !strings.HasSuffix(name, last) {
				t.Errorf("Name(%d) = %q, %q; want TLD %q", tt.want-1, name, tld, last)
			}
			if first := cs[len(cs)-1]; name[0] != first && tt.g.PatternType != domainflow.PatternSuffix {
				t.Errorf("Name(%d) = %q, want it to start with %q", tt.want-1, name, first)
			}
		})
	}
}

func TestSpaceErrors(t *testing.T) {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	tests := []struct {
		name    string
		g       domainflow.GenerationConfig
		pointer string
		message string // a fragment of the error message
	}{
		{"36^13 overflows", cfg(domainflow.PatternPrefix, alnum, 13, "", ".com"),
			"/generation/variable_length", "170581728179578208256 domain names"},
		{"36^12 × 2 TLDs overflows", cfg(domainflow.PatternPrefix, alnum, 12, "", ".com", ".net"),
			"/generation/variable_length", "9476762676643233792 domain names"},
		{"2^63 overflows by one", cfg(domainflow.PatternSuffix, "ab", 62, "", ".com", ".net"),
			"/generation/variable_length", "9223372036854775808 domain names"},
		{"both doubles the digits", cfg(domainflow.PatternBoth, alnum, 7, "", ".com"),
			"/generation/variable_length", "14 variable positions"},
		{"empty character set", cfg(domainflow.PatternPrefix, "", 3, "", ".com"),
			"/generation/character_set", ""},
		{"non-ASCII character set", cfg(domainflow.PatternPrefix, "aé", 3, "", ".com"),
			"/generation/character_set", ""},
		{"zero length", cfg(domainflow.PatternPrefix, "ab", 0, "", ".com"),
			"/generation/variable_length", ""},
		{"negative length", cfg(domainflow.PatternPrefix, "ab", -1, "", ".com"),
			"/generation/variable_length", ""},
		{"label too long", cfg(domainflow.PatternBoth, "a", 30, "xyzw", ".com"),
			"/generation/variable_length", ""},
		{"huge length", cfg(domainflow.PatternPrefix, "a", math.MaxInt, "", ".com"),
			"/generation/variable_length", ""},
		{"no TLDs", cfg(domainflow.PatternPrefix, "ab", 2, ""),
			"/generation/tlds", ""},
		{"unknown pattern", cfg("middle", "ab", 2, "", ".com"),
			"/generation/pattern_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := generate.Space(tt.g)
			checkInvalid(t, "Space", err, tt.pointer, tt.message)
			if n != 0 {
				t.Errorf("Space = %d with an error, want 0", n)
			}
			_, err = generate.Total(tt.g)
			checkInvalid(t, "Total", err, tt.pointer, tt.message)
			gen, err := generate.New(tt.g)
			checkInvalid(t, "New", err, tt.pointer, tt.message)
			if gen != nil {
				t.Errorf("New returned a Generator with an error")
			}
		})
	}
}

func checkInvalid(t *testing.T, fn string, err error, pointer, message string) {
	t.Helper()
	var e *domainflow.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: err = %v, want a *domainflow.Error", fn, err)
	}
	if e.Code != domainflow.EINVALID {
		t.Errorf("%s: code = %q, want %q", fn, e.Code, domainflow.EINVALID)
	}
	if !slices.ContainsFunc(e.Fields, func(f domainflow.FieldError) bool { return f.Pointer == pointer && f.Detail != "" }) {
		t.Errorf("%s: fields = %+v, want one at %s with a detail", fn, e.Fields, pointer)
	}
	if !strings.Contains(e.Message, message) {
		t.Errorf("%s: message %q does not contain %q", fn, e.Message, message)
	}
	if message != "" && !strings.Contains(e.Message, "shorter variable_length") {
		t.Errorf("%s: message %q does not suggest a way out", fn, e.Message)
	}
}

func TestTotal(t *testing.T) {
	g := cfg(domainflow.PatternPrefix, "abc", 2, "x", ".com", ".net") // space 18
	tests := []struct {
		maxDomains, want int64
	}{
		{1, 1},
		{5, 5},
		{17, 17},
		{18, 18},
		{19, 18},
		{math.MaxInt64, 18},
		{0, 0},
		{-3, 0},
	}
	for _, tt := range tests {
		g.MaxDomains = tt.maxDomains
		got, err := generate.Total(g)
		if err != nil || got != tt.want {
			t.Errorf("Total with max_domains %d = %d, %v; want %d", tt.maxDomains, got, err, tt.want)
		}
		if gen := mustNew(t, g); gen.Total() != tt.want || gen.Space() != 18 {
			t.Errorf("max_domains %d: Generator Total, Space = %d, %d; want %d, 18",
				tt.maxDomains, gen.Total(), gen.Space(), tt.want)
		}
	}
}

func TestOutOfRangePanics(t *testing.T) {
	gen := mustNew(t, cfg(domainflow.PatternPrefix, "ab", 2, "x", ".com", ".net")) // space 8
	calls := map[string]func(int64){
		"Name":       func(i int64) { gen.Name(i) },
		"AppendName": func(i int64) { gen.AppendName(nil, i) },
		"TLDAt":      func(i int64) { gen.TLDAt(i) },
	}
	for fn, call := range calls {
		for _, idx := range []int64{-1, 8, math.MaxInt64, math.MinInt64} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s(%d) did not panic", fn, idx)
					}
				}()
				call(idx)
			}()
		}
		call(7) // the last valid index must not panic
	}
}

// TestGeneratorOwnsTLDs checks that New copies the TLD slice, so a caller
// reusing its config cannot change names behind a running campaign.
func TestGeneratorOwnsTLDs(t *testing.T) {
	g := cfg(domainflow.PatternPrefix, "ab", 1, "", ".com", ".net")
	gen := mustNew(t, g)
	g.TLDs[0] = ".evil"
	if name, _ := gen.Name(0); name != "a.com" {
		t.Errorf("Name(0) = %q after the caller changed its TLDs, want %q", name, "a.com")
	}
}

func TestAppendNameDoesNotAllocate(t *testing.T) {
	gen := mustNew(t, cfg(domainflow.PatternBoth, "abcdefghijklmnopqrstuvwxyz0123456789", 3, "-", ".com", ".net"))
	buf := make([]byte, 0, 64)
	var i int64
	allocs := testing.AllocsPerRun(1000, func() {
		buf = gen.AppendName(buf[:0], i%gen.Space())
		i += 7919
	})
	if allocs != 0 {
		t.Errorf("AppendName allocated %v times per call, want 0", allocs)
	}
}

// decode is an independent inverse of the index order: it reads a name back
// into its index, or returns -1 if the name does not fit the pattern.
func decode(g domainflow.GenerationConfig, name string) int64 {
	tldIdx := -1
	for i, tld := range g.TLDs {
		if strings.HasSuffix(name, tld) && len(name)-len(tld) == wantLabelLen(g) {
			tldIdx = i
			break
		}
	}
	if tldIdx < 0 {
		return -1
	}
	label := name[:wantLabelLen(g)]
	l, k := g.VariableLength, len(g.ConstantString)
	var vars, constant string
	switch g.PatternType {
	case domainflow.PatternPrefix:
		vars, constant = label[:l], label[l:]
	case domainflow.PatternSuffix:
		constant, vars = label[:k], label[k:]
	case domainflow.PatternBoth:
		vars, constant = label[:l]+label[l+k:], label[l:l+k]
	}
	if constant != g.ConstantString {
		return -1
	}
	var n int64
	for i := 0; i < len(vars); i++ {
		d := strings.IndexByte(g.CharacterSet, vars[i])
		if d < 0 {
			return -1
		}
		n = n*int64(len(g.CharacterSet)) + int64(d)
	}
	return n*int64(len(g.TLDs)) + int64(tldIdx)
}

func wantLabelLen(g domainflow.GenerationConfig) int {
	parts := 1
	if g.PatternType == domainflow.PatternBoth {
		parts = 2
	}
	return g.VariableLength*parts + len(g.ConstantString)
}

func TestDecodeAgreesWithName(t *testing.T) {
	g := cfg(domainflow.PatternBoth, "k3-", 2, "mid", ".com", ".org", ".net")
	gen := mustNew(t, g)
	for i := range gen.Space() {
		if name, _ := gen.Name(i); decode(g, name) != i {
			t.Fatalf("Name(%d) = %q decodes to %d", i, name, decode(g, name))
		}
	}
}

func FuzzName(f *testing.F) {
	f.Add(uint8(0), "ab", uint8(2), "x", uint8(2), int64(5))
	f.Add(uint8(1), "abcdefghijklmnopqrstuvwxyz0123456789", uint8(6), "shop", uint8(3), int64(123456789))
	f.Add(uint8(2), "0123456789", uint8(9), "-", uint8(1), int64(math.MaxInt64))
	f.Add(uint8(2), "q", uint8(1), "", uint8(4), int64(-7))
	f.Fuzz(func(t *testing.T, pattern uint8, charset string, length uint8, constant string, ntld uint8, idx int64) {
		// Build a config of the kind Normalize and Validate let through.
		var cs []byte
		for i := 0; i < len(charset); i++ {
			if c := charset[i]; c < 0x80 && !slices.Contains(cs, c) {
				cs = append(cs, c)
			}
		}
		tlds := []string{".com", ".net", ".org", ".io", ".co.uk", ".de", ".x"}[:1+int(ntld)%7]
		g := cfg([]string{domainflow.PatternPrefix, domainflow.PatternSuffix, domainflow.PatternBoth}[pattern%3],
			string(cs), 1+int(length)%20, constant, tlds...)
		space, err := generate.Space(g)
		if err != nil {
			var e *domainflow.Error
			if !errors.As(err, &e) || e.Code != domainflow.EINVALID || len(e.Fields) == 0 {
				t.Fatalf("Space error %v is not an EINVALID *domainflow.Error with fields", err)
			}
			return // empty charset, long label or too big a space
		}
		gen := mustNew(t, g)
		if gen.Space() != space {
			t.Fatalf("Generator.Space() = %d, Space = %d", gen.Space(), space)
		}
		idx %= space
		if idx < 0 {
			idx += space
		}

		name, tld := gen.Name(idx)
		if again, againTLD := mustNew(t, g).Name(idx); again != name || againTLD != tld {
			t.Fatalf("Name(%d) = %q then %q from a second Generator", idx, name, again)
		}
		if got := string(gen.AppendName(nil, idx)); got != name {
			t.Fatalf("AppendName(%d) = %q, Name = %q", idx, got, name)
		}
		if want := wantLabelLen(g) + len(tld); len(name) != want {
			t.Fatalf("Name(%d) = %q has length %d, want %d", idx, name, len(name), want)
		}
		if !slices.Contains(g.TLDs, tld) || !strings.HasSuffix(name, tld) {
			t.Fatalf("Name(%d) = %q, %q: TLD not from the config or not at the end", idx, name, tld)
		}
		label := strings.TrimSuffix(name, tld)
		for i := 0; i < len(label); i++ {
			if strings.IndexByte(g.CharacterSet, label[i]) < 0 && strings.IndexByte(g.ConstantString, label[i]) < 0 {
				t.Fatalf("Name(%d) = %q holds %q, in neither the charset nor the constant", idx, name, label[i])
			}
		}
		if got := decode(g, name); got != idx {
			t.Fatalf("Name(%d) = %q decodes to %d", idx, name, got)
		}
	})
}

func BenchmarkAppendName(b *testing.B) {
	gen := mustNew(b, cfg(domainflow.PatternPrefix, "abcdefghijklmnopqrstuvwxyz0123456789", 6, "shop", ".com", ".net", ".org"))
	buf := make([]byte, 0, 64)
	space := gen.Space()
	var idx int64
	b.ReportAllocs()
	for b.Loop() {
		buf = gen.AppendName(buf[:0], idx)
		if idx++; idx == space {
			idx = 0
		}
	}
}
