package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

type tokenRow struct {
	ID         uuid.UUID `gorm:"primaryKey"`
	UserID     uuid.UUID
	TokenHash  string
	Name       string
	Hint       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
}

func (tokenRow) TableName() string { return "api_tokens" }

func (r *tokenRow) toDomain() *domainflow.Token {
	return &domainflow.Token{ID: r.ID, UserID: r.UserID, Name: r.Name, Hint: r.Hint, CreatedAt: r.CreatedAt.UTC(),
		ExpiresAt: utcPtr(r.ExpiresAt), LastUsedAt: utcPtr(r.LastUsedAt)}
}

var (
	errTokenNotFound = &domainflow.Error{Code: domainflow.ENOTFOUND, Message: "No such token."}
	errBadToken      = &domainflow.Error{Code: domainflow.EUNAUTHORIZED, Message: "The token is not valid."}
	errTokenExpired  = &domainflow.Error{Code: domainflow.EUNAUTHORIZED, Message: "The token has expired."}
	errBadTicket     = &domainflow.Error{Code: domainflow.EUNAUTHORIZED,
		Message: "The ticket is not valid: a ticket works once, within 30 seconds of being made."}
)

// maxSecret bounds what is hashed and looked up as a token or a ticket.
const maxSecret = 200

// newSecret returns prefix followed by 43 random letters and digits (256
// bits): no punctuation, so that a double click selects it whole and a
// scanner's pattern is simple (dfl_[0-9A-Za-z]{43}).
func newSecret(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const n = 43
	b := make([]byte, len(prefix), len(prefix)+n)
	copy(b, prefix)
	var random [64]byte
	for len(b) < cap(b) {
		_, _ = rand.Read(random[:]) // never fails (crypto/rand, Go 1.24+)
		for _, c := range random {
			// 248 is 4×62: below it, every letter is as likely as another.
			if c < 248 && len(b) < cap(b) {
				b = append(b, alphabet[c%62])
			}
		}
	}
	return string(b)
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a token named "default" for the user, lasting until it is
// revoked, and returns its secret. See IssueToken.
func (db *DB) CreateToken(ctx context.Context, userID uuid.UUID) (string, error) {
	_, secret, err := db.IssueToken(ctx, domainflow.NewToken{UserID: userID, Name: "default"})
	return secret, err
}

// IssueToken makes a new API token and returns it with its secret, which
// cannot be recovered later: only its SHA-256 is stored, with a hint (the
// prefix and the last four characters) to recognise it by.
func (db *DB) IssueToken(ctx context.Context, n domainflow.NewToken) (*domainflow.Token, string, error) {
	if err := n.Validate(); err != nil {
		return nil, "", err
	}
	secret := newSecret(domainflow.TokenPrefix)
	now := db.now()
	row := tokenRow{ID: uuid.New(), UserID: n.UserID, TokenHash: hashSecret(secret), Name: n.Name,
		Hint: domainflow.TokenPrefix + "…" + secret[len(secret)-4:], CreatedAt: now}
	if n.Lifetime > 0 {
		at := now.Add(n.Lifetime)
		row.ExpiresAt = &at
	}
	// Audited (token.created, the token's id) under the actor of ctx.
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return db.audit(tx, domainflow.AuditTokenCreated, domainflow.ResourceToken, row.ID.String(), map[string]any{"name": row.Name})
	})
	if err != nil {
		return nil, "", err
	}
	return row.toDomain(), secret, nil
}

// ListTokens returns the user's tokens, oldest first.
func (db *DB) ListTokens(ctx context.Context, userID uuid.UUID) ([]*domainflow.Token, error) {
	var rows []tokenRow
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*domainflow.Token, len(rows))
	for i := range rows {
		out[i] = rows[i].toDomain()
	}
	return out, nil
}

// RevokeToken deletes the user's token (ENOTFOUND for a token that is
// missing or someone else's), its tickets with it, and counts the
// revocation (see Revocations) in the same transaction.
func (db *DB) RevokeToken(ctx context.Context, userID, id uuid.UUID) error {
	return db.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&tokenRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errTokenNotFound
		}
		if err := db.audit(tx, domainflow.AuditTokenRevoked, domainflow.ResourceToken, id.String(), nil); err != nil {
			return err
		}
		return tx.Exec("UPDATE token_revocations SET revoked = revoked + 1 WHERE id = 1").Error
	})
}

// TokensAlive returns those of the ids that are tokens neither revoked nor
// expired, for the event hub, which closes the connections of the others.
func (db *DB) TokensAlive(ctx context.Context, ids []uuid.UUID) ([]uuid.UUID, error) {
	var rows []tokenRow
	if err := db.gorm.WithContext(ctx).Select("id", "expires_at").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	now := db.now()
	alive := make([]uuid.UUID, 0, len(rows))
	for _, r := range rows {
		if r.ExpiresAt == nil || now.Before(*r.ExpiresAt) {
			alive = append(alive, r.ID)
		}
	}
	return alive, nil
}

// Revocations returns how many tokens were ever revoked. Whoever remembers
// that a token is valid must ask again once this number has moved.
func (db *DB) Revocations(ctx context.Context) (int64, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Raw("SELECT revoked FROM token_revocations WHERE id = 1").Scan(&n).Error
	return n, err
}

// Authenticate returns what a token grants, or an EUNAUTHORIZED error for a
// token that is unknown, revoked or expired. Tokens of both prefixes work
// (dft_ before tokens had lifecycles, dfl_ since). It records the token's
// use when the last one recorded is at least domainflow.TokenUseInterval
// old, so a token in constant use costs one write a minute, not one a
// request.
func (db *DB) Authenticate(ctx context.Context, token string) (*domainflow.Access, error) {
	if !(strings.HasPrefix(token, domainflow.TokenPrefix) || strings.HasPrefix(token, domainflow.LegacyTokenPrefix)) || len(token) > maxSecret {
		return nil, errBadToken
	}
	var row tokenRow
	err := db.gorm.WithContext(ctx).Select("id", "user_id", "expires_at", "last_used_at").
		Where("token_hash = ?", hashSecret(token)).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil, errBadToken
	case err != nil:
		return nil, err
	}
	a := &domainflow.Access{UserID: row.UserID, TokenID: row.ID, ExpiresAt: utcPtr(row.ExpiresAt)}
	now := db.now()
	if a.Expired(now) {
		return nil, errTokenExpired
	}
	if stale := now.Add(-domainflow.TokenUseInterval); row.LastUsedAt == nil || !row.LastUsedAt.After(stale) {
		// Conditional, so that instances racing on the same token write
		// once. Bookkeeping: its failure (a busy SQLite writer, say) does
		// not refuse a valid token; the next use a minute on tries again.
		_ = db.gorm.WithContext(ctx).Model(&tokenRow{}).
			Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", row.ID, stale).
			Update("last_used_at", now).Error
	}
	return a, nil
}

// CreateTicket makes a single-use WebSocket ticket acting for a's user, for
// domainflow.TicketLifetime (less if a's token expires sooner), and returns
// it with its expiry. Like a token, only its SHA-256 is stored. Tickets that
// expired unused are deleted on the way.
func (db *DB) CreateTicket(ctx context.Context, a domainflow.Access) (string, time.Time, error) {
	now := db.now()
	if err := db.gorm.WithContext(ctx).Exec("DELETE FROM ws_tickets WHERE expires_at < ?", now).Error; err != nil {
		return "", time.Time{}, err
	}
	expires := now.Add(domainflow.TicketLifetime)
	if a.ExpiresAt != nil && a.ExpiresAt.Before(expires) {
		expires = *a.ExpiresAt
	}
	ticket := newSecret("")
	// Only while the token is there: one revoked meanwhile makes no ticket.
	res := db.gorm.WithContext(ctx).Exec(`INSERT INTO ws_tickets (ticket_hash, user_id, token_id, expires_at)
		SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM api_tokens WHERE id = ?)`,
		hashSecret(ticket), a.UserID, a.TokenID, expires, a.TokenID)
	if res.Error != nil {
		return "", time.Time{}, res.Error
	}
	if res.RowsAffected == 0 {
		return "", time.Time{}, errBadToken
	}
	return ticket, expires, nil
}

// RedeemTicket consumes a ticket and returns what the token that made it
// grants (its user and its id): the first
// call with a ticket made within domainflow.TicketLifetime succeeds, on any
// instance; every other call gets an EUNAUTHORIZED error. The ticket is
// deleted by the same statement that reads it, so two handshakes racing
// with one ticket cannot both have it.
func (db *DB) RedeemTicket(ctx context.Context, ticket string) (domainflow.Access, error) {
	if ticket == "" || len(ticket) > maxSecret {
		return domainflow.Access{}, errBadTicket
	}
	var rows []struct {
		UserID    uuid.UUID
		TokenID   uuid.UUID
		ExpiresAt time.Time
	}
	err := db.gorm.WithContext(ctx).Raw("DELETE FROM ws_tickets WHERE ticket_hash = ? RETURNING user_id, token_id, expires_at",
		hashSecret(ticket)).Scan(&rows).Error
	if err != nil {
		return domainflow.Access{}, err
	}
	if len(rows) == 0 || !db.now().Before(rows[0].ExpiresAt) {
		return domainflow.Access{}, errBadTicket
	}
	return domainflow.Access{UserID: rows[0].UserID, TokenID: rows[0].TokenID}, nil
}
