package topics

// Names of the PostgreSQL sinks (views/sinks). Each consumes a domain's
// output topics into the read models and dead-letters what it cannot write
// to DLQ("sink-" + name).
const (
	SinkGiftCards       = "giftcards"
	SinkReturns         = "returns"
	SinkRecommendations = "recommendations"
)

func init() { domainCatalogs = append(domainCatalogs, sinkTopics) }

func sinkTopics() []Topic {
	dlq := func(sink string) Topic {
		return Topic{Name: DLQ("sink-" + sink), Cleanup: Delete, Key: "original key", Message: "DeadLetter",
			Producers: []string{"sink " + sink}, Consumers: []string{"operators"}}
	}
	return []Topic{dlq(SinkGiftCards), dlq(SinkReturns), dlq(SinkRecommendations)}
}
