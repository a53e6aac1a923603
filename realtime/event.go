package realtime

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

// marshalData turns an event's data into JSON once, so every connection
// shares the bytes and the caller may reuse its value after Publish.
func marshalData(v any) (json.RawMessage, error) {
	switch d := v.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		if len(d) == 0 {
			return json.RawMessage("{}"), nil
		}
		if !json.Valid(d) {
			return nil, errors.New("invalid JSON")
		}
		return d, nil
	}
	return json.Marshal(v)
}

// wireEvent is an Event as it travels between instances.
type wireEvent struct {
	Type       domainflow.EventType `json:"type"`
	UserID     uuid.UUID            `json:"user_id"`
	CampaignID *uuid.UUID           `json:"campaign_id,omitempty"`
	Time       time.Time            `json:"time"`
	Data       json.RawMessage      `json:"data"`
}

func encodeEvent(ev domainflow.Event) ([]byte, error) {
	data, err := marshalData(ev.Data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireEvent{Type: ev.Type, UserID: ev.UserID, CampaignID: ev.CampaignID, Time: ev.Time, Data: data})
}

func decodeEvent(b []byte) (domainflow.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return domainflow.Event{}, err
	}
	return domainflow.Event{Type: w.Type, UserID: w.UserID, CampaignID: w.CampaignID, Time: w.Time, Data: w.Data}, nil
}

// dataVersion is the campaign version an event's data describes: its
// "version", 0 when it has none.
func dataVersion(data json.RawMessage) int64 {
	var v struct {
		Version int64 `json:"version"`
	}
	if json.Unmarshal(data, &v) != nil {
		return 0
	}
	return v.Version
}
