package domainflow

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DNS name limits (RFC 1035): octets in a label, and in a whole name
// written without its final dot.
const (
	MaxLabelLength = 63
	MaxNameLength  = 253
)

// checkHost accepts a bare host: an IP address (IPv6 without brackets) or a
// host name — dot-separated labels of letters, digits, hyphens and
// underscores, none empty, none starting or ending with a hyphen, at most
// MaxLabelLength octets each and MaxNameLength in all (a final dot aside),
// the last not all digits (so "999.1.1.1" is neither). It says what is wrong
// otherwise, in words that follow the field's name.
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	switch {
	case strings.TrimSpace(h) == "":
		return errors.New("must not be blank")
	case strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@"):
		return errors.New("must be a bare host name or IP address, not a URL")
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") && net.ParseIP(h[1:len(h)-1]) != nil:
		return errors.New("must be an IPv6 address without brackets")
	case strings.Contains(h, ":"):
		return errors.New("must be a bare host name or IP address, without a port")
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > MaxNameLength {
		return fmt.Errorf("is %d characters long; a host name has at most %d", len(name), MaxNameLength)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if err := checkLabel(l, true); err != nil {
			return fmt.Errorf("is not a host name: label %q %v", l, err)
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return errors.New("is not a valid IP address, and a host name cannot end in an all-numeric label")
	}
	return nil
}

// checkLabel checks one label of a DNS name (underscores allowed where
// underscore says so, as in host names of some private networks).
func checkLabel(l string, underscore bool) error {
	switch {
	case l == "":
		return errors.New("is empty")
	case len(l) > MaxLabelLength:
		return fmt.Errorf("is %d characters long; a label has at most %d", len(l), MaxLabelLength)
	case l[0] == '-' || l[len(l)-1] == '-':
		return errors.New("starts or ends with a hyphen")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || underscore && c == '_') {
			return fmt.Errorf("holds %q; labels hold only letters, digits and hyphens", string(rune(c)))
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// hostPort splits "host:port" and checks both halves: a bare host (see
// checkHost; an IPv6 address in brackets) and a port in 1-65535. key is the
// address in one spelling (lowercase host, canonical IP, decimal port), so
// that two spellings of one address compare equal.
func hostPort(s string) (key string, err error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", errors.New(ae.Err)
		}
		return "", err
	}
	if err := checkHost(host); err != nil {
		return "", fmt.Errorf("host %q %v", host, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not in 1-65535", port)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), strconv.Itoa(n)), nil
}
