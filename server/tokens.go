package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// noStore is the Cache-Control of an answer carrying a secret.
var noStore = "no-store"

func (s *Server) ListTokens(ctx context.Context, _ api.ListTokensRequestObject) (api.ListTokensResponseObject, error) {
	list, err := s.store.ListTokens(ctx, userID(ctx))
	if err != nil {
		return nil, err
	}
	current := accessOf(ctx).TokenID
	out := api.TokenList{Items: make([]api.Token, len(list))}
	for i, t := range list {
		out.Items[i] = api.Token{Id: t.ID, Name: t.Name, Hint: t.Hint, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
			LastUsedAt: t.LastUsedAt, Current: t.ID == current}
	}
	return api.ListTokens200JSONResponse(out), nil
}

// tokenFromCreate is the token a create body asks for.
func tokenFromCreate(userID uuid.UUID, b *api.TokenCreate) domainflow.NewToken {
	n := domainflow.NewToken{UserID: userID, Name: b.Name}
	if b.ExpiresIn == nil {
		return n
	}
	// Out of bounds stays out of bounds (no overflow), and an explicit 0 is
	// not "until revoked".
	switch sec := *b.ExpiresIn; {
	case sec <= 0:
		n.Lifetime = -time.Second
	case sec > int64(domainflow.MaxTokenLifetime/time.Second):
		n.Lifetime = domainflow.MaxTokenLifetime + time.Second
	default:
		n.Lifetime = time.Duration(sec) * time.Second
	}
	return n
}

// checkTokenBody runs the checks of CreateToken on a body that failed the
// schema, so that its answer names those fields too.
func checkTokenBody(body []byte) []domainflow.FieldError {
	var create api.TokenCreate
	if json.Unmarshal(body, &create) != nil {
		return nil
	}
	return invalidFields(tokenFromCreate(uuid.Nil, &create).Validate())
}

func (s *Server) CreateToken(ctx context.Context, req api.CreateTokenRequestObject) (api.CreateTokenResponseObject, error) {
	n := tokenFromCreate(userID(ctx), req.Body)
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if err := n.Within(accessOf(ctx), time.Now()); err != nil {
		return nil, err
	}
	t, secret, err := s.store.IssueToken(ctx, n)
	if err != nil {
		return nil, err
	}
	return api.CreateToken201JSONResponse{
		Body:    api.TokenCreated{Id: t.ID, Name: t.Name, Hint: t.Hint, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, Token: secret},
		Headers: api.CreateToken201ResponseHeaders{CacheControl: &noStore},
	}, nil
}

// RevokeToken deletes the token; this instance refuses it from the next
// request on, the others within a second (see tokenCache).
func (s *Server) RevokeToken(ctx context.Context, req api.RevokeTokenRequestObject) (api.RevokeTokenResponseObject, error) {
	if err := s.store.RevokeToken(ctx, userID(ctx), req.TokenId); err != nil {
		return nil, err
	}
	s.tokens.revokedHere()
	return api.RevokeToken204Response{}, nil
}

// CreateWebSocketTicket makes a single-use ticket for the caller's
// WebSocket handshake, so that no long-lived token goes into a URL.
func (s *Server) CreateWebSocketTicket(ctx context.Context, _ api.CreateWebSocketTicketRequestObject) (api.CreateWebSocketTicketResponseObject, error) {
	ticket, expires, err := s.store.CreateTicket(ctx, accessOf(ctx))
	if err != nil {
		return nil, err
	}
	return api.CreateWebSocketTicket201JSONResponse{
		Body:    api.WebSocketTicket{Ticket: ticket, ExpiresAt: expires},
		Headers: api.CreateWebSocketTicket201ResponseHeaders{CacheControl: &noStore},
	}, nil
}
