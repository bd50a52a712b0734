package recommendations

import (
	"strings"
	"time"

	"github.com/shopstream/streams/topics"
)

// Event types this package produces.
const (
	// TypeGenerated is recommendations.generated.
	TypeGenerated = "recommendations.generated"
	// TypeClicked is recommendations.clicked.
	TypeClicked = "recommendations.clicked"
	// TypeInteraction is the internal interaction batch (Batch).
	TypeInteraction = "recommendations.interaction"
	// TypeInteractionRecorded is a batch of recorded interactions, each with
	// the weight it was given (on topics.RecommendationsRecorded).
	TypeInteractionRecorded = "recommendations.interaction_recorded"
	// TypeSimilaritiesUpdated is recommendations.similarities_updated
	// (SimilaritiesUpdated, on topics.RecommendationsSimilarities).
	TypeSimilaritiesUpdated = "recommendations.similarities_updated"
)

type orderCompleted struct {
	OrderID     string    `json:"order_id"`
	UserID      string    `json:"user_id"`
	CompletedAt time.Time `json:"completed_at"`
	LineItems   []struct {
		LineItemID string `json:"line_item_id"`
		ProductID  string `json:"product_id"`
		Quantity   int    `json:"quantity"`
		// The amounts are not used here; they are read so that an order
		// the contract forbids (an amount as a JSON number) is refused
		// here too, as the returns and gift card consumers refuse it.
		UnitPrice *topics.Amount `json:"unit_price"`
		Discount  *topics.Amount `json:"discount"`
		Tax       *topics.Amount `json:"tax"`
	} `json:"line_items"`
	Subtotal      *topics.Amount `json:"subtotal"`
	DiscountTotal *topics.Amount `json:"discount_total"`
	TaxTotal      *topics.Amount `json:"tax_total"`
	ShippingTotal *topics.Amount `json:"shipping_total"`
	Total         *topics.Amount `json:"total"`
}

type storefrontEvent struct {
	UserID     string `json:"user_id"`
	ProductID  string `json:"product_id"`
	SessionID  string `json:"session_id"`
	Source     string `json:"source"`
	Quantity   int    `json:"quantity"`
	CartID     string `json:"cart_id"`
	WishlistID string `json:"wishlist_id"`
}

// Click is the payload of recommendations.clicked.
type Click struct {
	RecommendationID string `json:"recommendation_id"`
	UserID           string `json:"user_id"`
	ProductID        string `json:"product_id"`
	// Position is the product's 1-based position in the list, 0 if unknown.
	Position int `json:"position,omitempty"`
}

// Validate checks a click.
func (c *Click) Validate() error {
	switch {
	case strings.TrimSpace(c.RecommendationID) == "":
		return ErrInvalidEvent.Withf("click has no recommendation_id")
	case strings.TrimSpace(c.UserID) == "":
		return ErrInvalidUser.Withf("click has no user_id")
	case strings.TrimSpace(c.ProductID) == "":
		return ErrInvalidProduct.Withf("click has no product_id")
	case c.Position < 0:
		return ErrInvalidEvent.Withf("click position %d is negative", c.Position)
	}
	return nil
}

type productUpdated struct {
	ProductID  string            `json:"product_id"`
	Name       string            `json:"name"`
	Brand      string            `json:"brand"`
	Categories []string          `json:"categories"`
	Attributes map[string]string `json:"attributes"`
	Price      *topics.Amount    `json:"price"` // a decimal string, never a number
	Currency   string            `json:"currency"`
	Active     *bool             `json:"active"`
}

// Inbound is what one inbound event means to the recommender: an
// interaction batch keyed by user, or a catalog entry keyed by product.
type Inbound struct {
	Batch   *Batch
	Product *Product
}

// Translate turns an inbound event (order.completed, product.viewed,
// cart.item_added, wishlist.item_added, recommendations.clicked,
// product.updated) into what the recommender records. An event that breaks
// the contract is a typed error (the ingress dead-letters it).
func Translate(env *topics.Envelope) (Inbound, error) {
	switch env.Type {
	case topics.OrderCompleted:
		o, err := topics.DecodeData[orderCompleted](env)
		if err != nil {
			return Inbound{}, ErrInvalidEvent.Withf("%v", err)
		}
		if strings.TrimSpace(o.OrderID) == "" {
			return Inbound{}, ErrInvalidEvent.Withf("order.completed has no order_id")
		}
		b := &Batch{UserID: o.UserID, OccurredAt: env.OccurredAt, OrderID: o.OrderID}
		for i, li := range o.LineItems {
			id := li.LineItemID
			if id == "" {
				id = li.ProductID
			}
			if li.Quantity < 0 {
				return Inbound{}, ErrInvalidEvent.Withf("order %s line %d has a negative quantity", o.OrderID, i)
			}
			b.Items = append(b.Items, Interaction{EventID: "order:" + o.OrderID + ":" + id, ProductID: li.ProductID,
				Type: Purchase, Quantity: li.Quantity, Metadata: map[string]string{"order_id": o.OrderID}})
		}
		return Inbound{Batch: b}, b.Validate()
	case topics.ProductViewed, topics.CartItemAdded, topics.WishlistItemAdded:
		e, err := topics.DecodeData[storefrontEvent](env)
		if err != nil {
			return Inbound{}, ErrInvalidEvent.Withf("%v", err)
		}
		it := Interaction{EventID: env.ID, ProductID: e.ProductID, Metadata: map[string]string{}}
		switch env.Type {
		case topics.ProductViewed:
			it.Type = View
			setIf(it.Metadata, "source", e.Source)
			setIf(it.Metadata, "session_id", e.SessionID)
		case topics.CartItemAdded:
			it.Type, it.Quantity = CartAdd, e.Quantity
			setIf(it.Metadata, "cart_id", e.CartID)
		default:
			it.Type = Wishlist
			setIf(it.Metadata, "wishlist_id", e.WishlistID)
		}
		b := &Batch{UserID: e.UserID, OccurredAt: env.OccurredAt, Items: []Interaction{it}}
		return Inbound{Batch: b}, b.Validate()
	case TypeClicked:
		c, err := topics.DecodeData[Click](env)
		if err != nil {
			return Inbound{}, ErrInvalidEvent.Withf("%v", err)
		}
		if err := c.Validate(); err != nil {
			return Inbound{}, err
		}
		// A click is a view that came from a recommendation.
		b := &Batch{UserID: c.UserID, OccurredAt: env.OccurredAt, Items: []Interaction{{EventID: env.ID,
			ProductID: c.ProductID, Type: View,
			Metadata: map[string]string{"source": "recommendation", "recommendation_id": c.RecommendationID}}}}
		return Inbound{Batch: b}, b.Validate()
	case topics.ProductUpdated:
		u, err := topics.DecodeData[productUpdated](env)
		if err != nil {
			return Inbound{}, ErrInvalidEvent.Withf("%v", err)
		}
		p := &Product{ProductID: u.ProductID, Name: u.Name, Brand: u.Brand, Categories: u.Categories,
			Attributes: u.Attributes, Currency: u.Currency, Active: u.Active == nil || *u.Active, UpdatedAt: env.OccurredAt}
		if u.Price != nil {
			p.Price = u.Price.Decimal
		}
		return Inbound{Product: p}, p.Validate()
	}
	return Inbound{}, ErrInvalidEvent.Withf("event type %q is not one the recommender consumes", env.Type)
}

func setIf(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}
