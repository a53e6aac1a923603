package httpcheck

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// text is a body's text as UTF-8, read as many times as needed without
// keeping a decoded copy: each reader decodes the body afresh as it goes.
type text struct {
	b   *body
	dec encoding.Encoding // nil: the body is UTF-8 already
}

// textOf returns body's text. A charset the server declares for sure
// (Content-Type or a byte order mark) is believed; otherwise a body that is
// valid UTF-8 is taken as such, and any other is decoded with the charset
// its <meta> declares, or windows-1252 (what browsers assume).
func textOf(b *body, contentType string) text {
	enc, name, certain := charset.DetermineEncoding(b.prefix(1024), contentType)
	if name == "utf-8" || (!certain && validUTF8(b.chunks)) {
		return text{b: b}
	}
	return text{b: b, dec: enc}
}

func (t text) reader() io.Reader {
	if t.dec == nil {
		return t.b.reader()
	}
	return transform.NewReader(t.b.reader(), t.dec.NewDecoder())
}

// contiguous returns the text when it is one UTF-8 slice already (a small
// page), for the functions that are quicker on bytes than on a stream.
func (t text) contiguous() ([]byte, bool) {
	if t.dec == nil && len(t.b.chunks) <= 1 {
		return t.b.prefix(chunkSize), true
	}
	return nil, false
}

// validUTF8 is utf8.Valid of the chunks put end to end, allowing a rune cut
// off at the end (a body read up to a byte limit).
func validUTF8(chunks [][]byte) bool {
	var cut [utf8.UTFMax]byte // a rune split between two chunks
	n := 0
	for _, c := range chunks {
		for n > 0 && len(c) > 0 && !utf8.FullRune(cut[:n]) {
			cut[n] = c[0]
			n++
			c = c[1:]
		}
		if n > 0 {
			if !utf8.FullRune(cut[:n]) {
				continue // the chunk was shorter than the rest of the rune
			}
			if r, size := utf8.DecodeRune(cut[:n]); (r == utf8.RuneError && size <= 1) || size != n {
				return false
			}
			n = 0
		}
		// Leave a rune cut off at the chunk's end for the next one.
		end := runeBoundary(c)
		n = copy(cut[:], c[end:])
		if !utf8.Valid(c[:end]) {
			return false
		}
	}
	return true // n > 0: a rune cut off at the end, allowed
}

// extractTitle returns the text of the document's first <title> (outside
// inline SVG, whose titles are tooltips): entities decoded, whitespace
// collapsed, at most maxTitleRunes characters. "" when there is none, or
// when a token longer than maxTitleToken comes before it.
func extractTitle(doc io.Reader) string {
	z := html.NewTokenizer(doc)
	z.SetMaxBuf(maxTitleToken)
	svgDepth := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken:
			tag, _ := z.TagName()
			switch string(tag) {
			case "svg":
				svgDepth++
			case "title":
				if svgDepth > 0 {
					continue
				}
				// The tokenizer reads a title as RCDATA: its text comes as
				// text tokens, entities already decoded, up to </title>.
				var b strings.Builder
				for z.Next() == html.TextToken && b.Len() < 64<<10 {
					b.Write(z.Text())
				}
				return cleanTitle(b.String())
			}
		case html.EndTagToken:
			if tag, _ := z.TagName(); string(tag) == "svg" && svgDepth > 0 {
				svgDepth--
			}
		}
	}
}

// cleanTitle collapses whitespace and cuts s to maxTitleRunes characters.
func cleanTitle(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if utf8.RuneCountInString(s) <= maxTitleRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == maxTitleRunes {
			return strings.TrimSpace(s[:i])
		}
		n++
	}
	return s
}

// matchKeywords returns the keywords found in t, in configuration order:
// the plain ones in one pass over the text, lowercased a piece at a time;
// each regular expression in a pass of its own.
func matchKeywords(kws []keyword, t text) []string {
	if len(kws) == 0 {
		return nil
	}
	found := make([]bool, len(kws))
	plain := false
	for i, k := range kws {
		if k.re == nil {
			plain = true
			continue
		}
		if doc, ok := t.contiguous(); ok {
			found[i] = k.re.Match(doc)
		} else {
			found[i] = k.re.MatchReader(bufio.NewReaderSize(t.reader(), 4<<10))
		}
	}
	if plain {
		findPlain(kws, found, t.reader(), int(min(scanPiece, t.b.n+utf8.UTFMax)))
	}
	var out []string
	for i, k := range kws {
		if found[i] {
			out = append(out, k.text)
		}
	}
	return out
}

// findPlain sets found[i] for the plain keywords kws[i] that r's text
// holds, ignoring case. The text is lowercased piece bytes at a time (cut
// between runes), each piece searched after the end of the one before it,
// long enough for a keyword across the two.
func findPlain(kws []keyword, found []bool, r io.Reader, piece int) {
	overlap := 0
	for _, k := range kws {
		if k.re == nil {
			overlap = max(overlap, len(k.lower)-1)
		}
	}
	in := make([]byte, piece)
	low := make([]byte, 0, overlap+piece)
	pending := 0 // bytes of in holding a rune the last read cut off
	for {
		n, err := r.Read(in[pending:])
		n += pending
		end := n
		if err == nil {
			end = runeBoundary(in[:n])
		}
		low = appendLower(low, in[:end])
		left := false
		for i, k := range kws {
			if k.re == nil && !found[i] {
				found[i] = bytes.Contains(low, []byte(k.lower))
				left = left || !found[i]
			}
		}
		if !left || err != nil {
			return
		}
		keep := min(overlap, len(low))
		low = low[:copy(low, low[len(low)-keep:])]
		pending = copy(in, in[end:n])
	}
}

// runeBoundary returns the length of b without a rune cut off at its end.
func runeBoundary(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if b[i] < utf8.RuneSelf {
			break
		}
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// appendLower appends s lowercased to dst, as bytes.ToLower would (an
// invalid byte becomes U+FFFD).
func appendLower(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += size
	}
	return dst
}
