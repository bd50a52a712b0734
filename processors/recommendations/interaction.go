package recommendations

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
)

// InteractionType is what a user did with a product.
type InteractionType string

// The interaction types of the seed's UserInteraction model.
const (
	View     InteractionType = "view"
	CartAdd  InteractionType = "cart_add"
	Wishlist InteractionType = "wishlist"
	Purchase InteractionType = "purchase"
)

// InteractionTypes lists every interaction type, weakest signal first.
var InteractionTypes = []InteractionType{View, Wishlist, CartAdd, Purchase}

// ParseInteractionType returns the interaction type named s.
func ParseInteractionType(s string) (InteractionType, error) {
	t := InteractionType(strings.TrimSpace(s))
	switch t {
	case View, CartAdd, Wishlist, Purchase:
		return t, nil
	}
	return "", ErrInvalidInteraction.Withf("interaction type %q is not view, cart_add, wishlist or purchase", s).
		With("interaction_type", s)
}

// Weights are the affinity a user gains for a product per interaction type.
// They must be positive and ordered purchase > cart_add > wishlist > view.
type Weights struct {
	View     float64 `json:"view"`
	Wishlist float64 `json:"wishlist"`
	CartAdd  float64 `json:"cart_add"`
	Purchase float64 `json:"purchase"`
}

// DefaultWeights are the default interaction weights.
var DefaultWeights = Weights{View: 1, Wishlist: 2, CartAdd: 3, Purchase: 5}

// Of returns the weight of t (0 for an unknown type).
func (w Weights) Of(t InteractionType) float64 {
	switch t {
	case View:
		return w.View
	case Wishlist:
		return w.Wishlist
	case CartAdd:
		return w.CartAdd
	case Purchase:
		return w.Purchase
	}
	return 0
}

func (w Weights) validate() error {
	if w.View <= 0 {
		return fmt.Errorf("recommendations: view weight %v must be positive", w.View)
	}
	if !(w.Purchase > w.CartAdd && w.CartAdd > w.Wishlist && w.Wishlist > w.View) {
		return fmt.Errorf("recommendations: weights must be ordered purchase > cart_add > wishlist > view, got %+v", w)
	}
	return nil
}

// Interaction is one thing one user did with one product.
type Interaction struct {
	// EventID identifies the interaction; a repeated ID is the same
	// interaction delivered again and is not counted twice.
	EventID   string          `json:"event_id"`
	ProductID string          `json:"product_id"`
	Type      InteractionType `json:"type"`
	// Quantity is the number of units (cart, purchase); 0 means 1.
	Quantity int `json:"quantity,omitempty"`
	// Metadata is free-form context (source, session, recommendation ID).
	Metadata Metadata `json:"metadata,omitempty"`
	// Weight is the affinity the interaction added, set by the user
	// processor on the interactions it recorded (TypeInteractionRecorded);
	// zero on the way in.
	Weight float64 `json:"weight,omitempty"`
}

// Metadata is an interaction's free-form context.
type Metadata map[string]string

// UnmarshalJSON decodes into a map sized for the object. segmentio/encoding
// (v0.5.4) makes every nil map[string]string it decodes with room for 64
// entries (decodeMapStringString), whatever the object holds; it fills a
// map it is given instead.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	into := make(map[string]string, bytes.Count(b, []byte{':'}))
	if err := json.Unmarshal(b, &into); err != nil {
		return err
	}
	*m = into
	return nil
}

// Batch is what the ingress writes to the interactions topic, keyed by user:
// one inbound event's interactions. An order is one batch of purchases and
// also a basket (its products were bought together).
type Batch struct {
	UserID     string        `json:"user_id"`
	OccurredAt time.Time     `json:"occurred_at"`
	Items      []Interaction `json:"items"`
	// OrderID is set for an order's basket.
	OrderID string `json:"order_id,omitempty"`
}

// Validate checks the batch: a user, at least one item, every item with an
// event ID, a product and a known type, and an event time.
func (b *Batch) Validate() error {
	if strings.TrimSpace(b.UserID) == "" {
		return ErrInvalidUser.Withf("interaction has no user ID")
	}
	if b.OccurredAt.IsZero() {
		return ErrInvalidInteraction.Withf("interaction has no time")
	}
	if len(b.Items) == 0 {
		return ErrInvalidInteraction.Withf("interaction batch is empty")
	}
	for i, it := range b.Items {
		if strings.TrimSpace(it.ProductID) == "" {
			return ErrInvalidProduct.Withf("interaction %d has no product ID", i)
		}
		if _, err := ParseInteractionType(string(it.Type)); err != nil {
			return err
		}
		if it.EventID == "" {
			return ErrInvalidInteraction.Withf("interaction %d has no event ID", i)
		}
		if it.Quantity < 0 {
			return ErrInvalidInteraction.Withf("interaction %d has a negative quantity", i)
		}
	}
	return nil
}
