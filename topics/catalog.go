package topics

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Cleanup is a topic's cleanup policy.
type Cleanup string

// Cleanup policies.
const (
	// Delete keeps records for the retention period (event and command streams).
	Delete Cleanup = "delete"
	// Compact keeps the latest record per key (goka tables, results).
	Compact Cleanup = "compact"
)

// Topic describes one topic of the catalog.
type Topic struct {
	// Name is the Kafka topic name.
	Name string
	// Partitions overrides the catalog's default partition count; 0 uses the
	// default. Co-partitioned topics (a group's inputs and its table) must
	// keep the default so that key k is in partition p everywhere.
	Partitions int32
	// Cleanup is the cleanup policy.
	Cleanup Cleanup
	// Key says what the record key is ("card key", "order ID").
	Key string
	// KeyField is the field of the envelope's data whose value is the
	// record key (inbound topics: "order_id" for order.completed, as its
	// producer keys it, contracts/inbound-events.md); empty when not
	// applicable (a key that is no field of data, such as a card key).
	KeyField string
	// Message names the message type (an envelope type or a Go type).
	Message string
	// Producers and Consumers name the components that write and read it.
	Producers []string
	Consumers []string
	// External is true for topics produced by other ShopStream services
	// with their own partitioners: they are read by an ingress step and
	// never routed by their record key.
	External bool
}

// Names of the topics every domain shares.
const (
	// CommandResults holds one CommandResult per command ID (compacted).
	CommandResults = "shopstream.command-results"
)

// Names of the inbound topics other ShopStream services publish
// (contracts/inbound-events.md). Their format is fixed.
const (
	OrderCompleted    = "order.completed"
	OrderRefunded     = "order.refunded"
	OrderCancelled    = "order.cancelled"
	ShipmentDelivered = "shipment.delivered"
	ProductViewed     = "product.viewed"
	CartItemAdded     = "cart.item_added"
	WishlistItemAdded = "wishlist.item_added"
	ProductUpdated    = "product.updated"
)

// replyTopics are the reply topics each command processor group offers
// (Envelope.ReplyTopic).
var replyTopics = map[string][]string{
	GiftCardCardsGroup:           {GiftCardReplies},
	GiftCardCreationIndexGroup:   {GiftCardReplies},
	GiftCardRedemptionIndexGroup: {GiftCardReplies},
}

// ReplyTopics returns the reply topics group offers: a command applied by
// group may name one of them in Envelope.ReplyTopic to get its result there
// too. Nil for a group that offers none.
func ReplyTopics(group string) []string { return slices.Clone(replyTopics[group]) }

// OffersReply reports whether group writes results to topic on request.
func OffersReply(group, topic string) bool { return slices.Contains(replyTopics[group], topic) }

// GroupTable is the name of goka's changelog topic for group's table.
func GroupTable(group string) string { return group + "-table" }

// DLQ is the name of group's dead-letter topic.
func DLQ(group string) string { return group + ".dlq" }

// platformTopics are the topics not owned by one domain.
func platformTopics() []Topic {
	return append([]Topic{
		{Name: CommandResults, Cleanup: Compact, Key: "command ID", Message: "CommandResult",
			Producers: []string{"every command processor"}, Consumers: []string{"HTTP API", "CLI"}},
	}, inboundTopics()...)
}

// inboundTopics are the topics other ShopStream services publish, with the
// field of data each one's producer keys its records by
// (contracts/inbound-events.md): the one list of them.
func inboundTopics() []Topic {
	inbound := func(name, key, keyField, producer string, consumers ...string) Topic {
		return Topic{Name: name, Cleanup: Delete, Key: key + " (a hint only: foreign partitioner)", KeyField: keyField,
			Message: name + " event (contracts/inbound-events.md)", Producers: []string{producer},
			Consumers: consumers, External: true}
	}
	return []Topic{
		inbound(OrderCompleted, "order ID", "order_id", "orders service", "returns ingress", "recommendations ingress", "gift card ingress"),
		inbound(OrderRefunded, "order ID", "order_id", "orders service", "gift card ingress"),
		inbound(OrderCancelled, "order ID", "order_id", "orders service", "gift card ingress"),
		inbound(ShipmentDelivered, "shipment ID", "shipment_id", "shipping service", "returns ingress"),
		inbound(ProductViewed, "user ID", "user_id", "storefront", "recommendations ingress"),
		inbound(CartItemAdded, "user ID", "user_id", "storefront", "recommendations ingress"),
		inbound(WishlistItemAdded, "user ID", "user_id", "storefront", "recommendations ingress"),
		inbound(ProductUpdated, "product ID", "product_id", "catalog service", "recommendations ingress"),
	}
}

// Inbound returns the inbound topics (External: other ShopStream services
// publish them), sorted by name, as the catalog describes them except for
// Partitions, which is 0 here: the catalog's default.
func Inbound() []Topic {
	in := inboundTopics()
	slices.SortFunc(in, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	return in
}

// domainCatalogs are the per-domain parts of the catalog, registered by the
// catalog_<domain>.go files of this package.
var domainCatalogs []func() []Topic

// Catalog is every topic ShopStream uses.
type Catalog struct {
	defaultPartitions int32
	topics            []Topic
}

// NewCatalog returns the catalog with partitions as the default partition
// count, which every co-partitioned topic shares.
func NewCatalog(partitions int32) (*Catalog, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("topics: partitions must be at least 1, got %d", partitions)
	}
	all := platformTopics()
	for _, f := range domainCatalogs {
		all = append(all, f()...)
	}
	seen := make(map[string]bool, len(all))
	for i := range all {
		t := &all[i]
		if seen[t.Name] {
			return nil, fmt.Errorf("topics: %q is in the catalog twice", t.Name)
		}
		seen[t.Name] = true
		if t.Partitions == 0 {
			t.Partitions = partitions
		}
		if t.Cleanup == "" {
			t.Cleanup = Delete
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return &Catalog{defaultPartitions: partitions, topics: all}, nil
}

// Partitions is the default partition count.
func (c *Catalog) Partitions() int32 { return c.defaultPartitions }

// Topics returns every topic, sorted by name.
func (c *Catalog) Topics() []Topic { return slices.Clone(c.topics) }

// Lookup returns the topic named name.
func (c *Catalog) Lookup(name string) (Topic, bool) {
	for _, t := range c.topics {
		if t.Name == name {
			return t, true
		}
	}
	return Topic{}, false
}
