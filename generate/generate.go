// Package generate turns a campaign's generation settings into domain names.
//
// The name at an offset index is a pure function of the settings and the
// index, so a campaign can stop and resume from a stored offset, and workers
// can share out ranges of indexes, without ever keeping a list of names.
//
// Indexes count in mixed radix. The TLD is the least significant digit, so
// any run of len(TLDs) consecutive indexes covers every TLD, and a campaign
// capped by max_domains still tries every TLD. The variable characters come
// next, the last character of the last variable part being the least
// significant; for the "both" pattern the two variable parts form one number.
// Index 0 is every variable character set to the first character of the
// character set, with the first TLD.
package generate

import (
	"fmt"
	"math"
	"math/big"

	"github.com/domainflow/domainflow"
)

// maxLabel is the longest DNS label. Longer labels cannot resolve, and the
// limit also keeps the digit count small enough that Space cannot loop long.
const maxLabel = 63

// Space returns how many distinct names g describes:
// len(character_set)^(variable_length × parts) × len(tlds), where parts is 2
// for the "both" pattern and 1 otherwise.
//
// It returns an EINVALID *domainflow.Error, with the JSON Pointer of the field
// at fault, when g cannot produce names or describes more names than an int64
// can number; offsets are stored as int64, so such a space could not be walked.
func Space(g domainflow.GenerationConfig) (int64, error) {
	_, space, err := check(g)
	return space, err
}

// Total returns how many names a campaign with settings g generates: the
// space, capped by max_domains (a max_domains below zero counts as zero).
func Total(g domainflow.GenerationConfig) (int64, error) {
	space, err := Space(g)
	if err != nil {
		return 0, err
	}
	return capTotal(space, g.MaxDomains), nil
}

func capTotal(space, maxDomains int64) int64 {
	return max(0, min(space, maxDomains))
}

// Generator produces the names of one generation config. Everything that does
// not depend on the index is worked out once in New, so AppendName only
// divides and copies. A Generator is immutable and safe for concurrent use.
type Generator struct {
	charset  string // one byte per character
	base     uint64 // len(charset)
	ntld     uint64 // len(tlds)
	tlds     []string
	template []byte  // the label with every variable position set to charset[0]
	varPos   []uint8 // label offsets of the variable positions, most significant first
	space    int64
	total    int64
}

// New checks g as Space does and prepares a Generator for it.
func New(g domainflow.GenerationConfig) (*Generator, error) {
	parts, space, err := check(g)
	if err != nil {
		return nil, err
	}
	l, k := g.VariableLength, len(g.ConstantString)
	var (
		template []byte
		varPos   []uint8
	)
	// addVar appends one variable part and records where its positions are.
	addVar := func() {
		for range l {
			varPos = append(varPos, uint8(len(template)))
			template = append(template, g.CharacterSet[0])
		}
	}
	switch g.PatternType {
	case domainflow.PatternPrefix:
		addVar()
		template = append(template, g.ConstantString...)
	case domainflow.PatternSuffix:
		template = append(template, g.ConstantString...)
		addVar()
	case domainflow.PatternBoth:
		addVar()
		template = append(template, g.ConstantString...)
		addVar()
	}
	if len(varPos) != l*parts || len(template) != l*parts+k {
		panic("generate: label layout does not match the pattern") // a bug in New
	}
	return &Generator{
		charset:  g.CharacterSet,
		base:     uint64(len(g.CharacterSet)),
		ntld:     uint64(len(g.TLDs)),
		tlds:     append([]string(nil), g.TLDs...), // the caller may reuse its slice
		template: template,
		varPos:   varPos,
		space:    space,
		total:    capTotal(space, g.MaxDomains),
	}, nil
}

// Space returns the number of distinct names; valid indexes are [0, Space()).
func (g *Generator) Space() int64 { return g.space }

// Total returns how many names the campaign generates: Space capped by
// max_domains.
func (g *Generator) Total() int64 { return g.total }

// Name returns the full name at idx (label and TLD, as in "abxy.com") and its
// TLD. It panics if idx is outside [0, Space()): a wrong offset is a bug, and
// wrapping it round would silently repeat names.
func (g *Generator) Name(idx int64) (name, tld string) {
	var buf [128]byte // large enough for any label and most TLDs, so one allocation
	return string(g.AppendName(buf[:0], idx)), g.TLDAt(idx)
}

// AppendName appends the full name at idx to dst and returns the extended
// slice. It does not allocate when dst has room for the name, which makes it
// the call for hot loops. It panics if idx is outside [0, Space()).
func (g *Generator) AppendName(dst []byte, idx int64) []byte {
	if uint64(idx) >= uint64(g.space) { // also catches idx < 0
		outOfRange(idx, g.space)
	}
	start := len(dst)
	dst = append(dst, g.template...)
	label := dst[start:]
	q := uint64(idx)
	t := q % g.ntld
	q /= g.ntld
	cs, base, pos := g.charset, g.base, g.varPos
	for i := len(pos) - 1; i >= 0; i-- {
		label[pos[i]] = cs[q%base]
		q /= base
	}
	return append(dst, g.tlds[t]...)
}

// TLDAt returns the TLD of the name at idx. It panics if idx is outside
// [0, Space()).
func (g *Generator) TLDAt(idx int64) string {
	if uint64(idx) >= uint64(g.space) {
		outOfRange(idx, g.space)
	}
	return g.tlds[uint64(idx)%g.ntld]
}

// outOfRange is kept out of line so the checks above stay cheap.
//
//go:noinline
func outOfRange(idx, space int64) {
	panic(fmt.Sprintf("generate: index %d is outside [0, %d)", idx, space))
}

// check validates g and returns its number of variable parts and its space.
func check(g domainflow.GenerationConfig) (parts int, space int64, err error) {
	var errs []domainflow.FieldError
	bad := func(pointer, format string, args ...any) {
		errs = append(errs, domainflow.FieldError{Pointer: pointer, Detail: fmt.Sprintf(format, args...)})
	}

	switch g.PatternType {
	case domainflow.PatternPrefix, domainflow.PatternSuffix:
		parts = 1
	case domainflow.PatternBoth:
		parts = 2
	default:
		bad("/generation/pattern_type", "must be one of prefix, suffix, both")
	}
	if g.CharacterSet == "" {
		bad("/generation/character_set", "must not be empty")
	}
	// Characters are taken a byte at a time, which is only right for ASCII.
	for i := 0; i < len(g.CharacterSet); i++ {
		if g.CharacterSet[i] >= 0x80 {
			bad("/generation/character_set", "may hold only ASCII characters")
			break
		}
	}
	switch {
	case g.VariableLength < 1:
		bad("/generation/variable_length", "must be at least 1")
	case parts > 0 && g.VariableLength > maxLabel:
		bad("/generation/variable_length", "makes labels longer than %d characters, the most a DNS label holds", maxLabel)
	case parts > 0 && g.VariableLength*parts+len(g.ConstantString) > maxLabel:
		bad("/generation/variable_length", "makes labels of %d characters; a DNS label holds at most %d",
			g.VariableLength*parts+len(g.ConstantString), maxLabel)
	}
	if len(g.TLDs) == 0 {
		bad("/generation/tlds", "must list at least one TLD")
	}
	if len(errs) > 0 {
		return 0, 0, domainflow.Invalid("The generation settings cannot produce domain names.", errs...)
	}

	c := uint64(len(g.CharacterSet))
	digits := g.VariableLength * parts
	n := uint64(len(g.TLDs))
	for range digits {
		if n > math.MaxInt64/c {
			return 0, 0, tooMany(g, digits)
		}
		n *= c
	}
	return parts, int64(n), nil
}

// tooMany builds the error for a space an int64 cannot number, with the exact
// count so the user sees how far over the limit the settings are.
func tooMany(g domainflow.GenerationConfig, digits int) error {
	c := len(g.CharacterSet)
	count := new(big.Int).Exp(big.NewInt(int64(c)), big.NewInt(int64(digits)), nil)
	count.Mul(count, big.NewInt(int64(len(g.TLDs))))
	return domainflow.Invalid(
		fmt.Sprintf("The generation settings describe %s domain names (%d characters to the power of %d variable positions, times %d TLDs), "+
			"more than the %d a campaign can number. Use a shorter variable_length or a smaller character set.",
			count, c, digits, len(g.TLDs), int64(math.MaxInt64)),
		domainflow.FieldError{
			Pointer: "/generation/variable_length",
			Detail:  fmt.Sprintf("gives %s combinations; at most %d are supported", count, int64(math.MaxInt64)),
		})
}
