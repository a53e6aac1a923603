package server

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// etag makes a strong validator from a campaign's version and what else
// shapes the representation (the kind of resource and its query). The
// version moves with every change of the campaign or its domains, so the tag
// changes exactly when the data does, and checking it needs no domain rows.
func etag(campaignID uuid.UUID, version int64, parts ...string) string {
	h := fnv.New64a()
	h.Write(campaignID[:])
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(version))
	h.Write(v[:])
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return `"` + strconv.FormatUint(h.Sum64(), 36) + "-" + strconv.FormatInt(version, 36) + `"`
}

// notModified reports whether an If-None-Match header (a list of tags,
// compared weakly as RFC 9110 says) holds the tag.
//
// "*" matches nothing here, although RFC 9110 lets it match any current
// representation: a client that sends it has no representation to reuse,
// so a 304 would tell it nothing, while a 304 is free of the rate limit and
// of the page's work, making "*" a way around both. It is meant for writes
// ("create only if absent"), and a GET with it gets the full answer. Only a
// 304 earned by the ETag is free.
func notModified(ifNoneMatch *string, tag string) bool {
	if ifNoneMatch == nil {
		return false
	}
	for _, t := range strings.Split(*ifNoneMatch, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == tag {
			return true
		}
	}
	return false
}
