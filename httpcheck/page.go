package httpcheck

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
)

// decodeBody returns body as UTF-8. A charset the server declares for sure
// (Content-Type or a byte order mark) is believed; otherwise a body that is
// valid UTF-8 is taken as such, and any other is decoded with the charset
// its <meta> declares, or windows-1252 (what browsers assume).
func decodeBody(body []byte, contentType string) []byte {
	enc, name, certain := charset.DetermineEncoding(body, contentType)
	if name == "utf-8" || (!certain && validUTF8(body)) {
		return body
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return body
	}
	return out
}

// validUTF8 is utf8.Valid allowing a rune cut off at the end (a body read up
// to a byte limit).
func validUTF8(b []byte) bool {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if b[i] < utf8.RuneSelf {
			break
		}
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return utf8.Valid(b)
}

// extractTitle returns the text of the document's first <title> (outside
// inline SVG, whose titles are tooltips): entities decoded, whitespace
// collapsed, at most maxTitleRunes characters. "" when there is none.
func extractTitle(doc []byte) string {
	z := html.NewTokenizer(bytes.NewReader(doc))
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
