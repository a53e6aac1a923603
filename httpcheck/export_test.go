package httpcheck

import "crypto/x509"

// SetProxyRoots makes c verify https proxies against roots (a test's own CA)
// instead of the system roots.
func SetProxyRoots(c *Checker, roots *x509.CertPool) { c.proxyRoots = roots }

// BudgetPeak returns the most b ever had reserved at once.
func BudgetPeak(b *Budget) int64 { return b.peak.Load() }

// Reservation is what a check reserves for a page of at most n bytes.
func Reservation(n int64) int64 { return reservation(n) }
