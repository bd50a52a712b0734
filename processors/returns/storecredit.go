package returns

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"

	"github.com/shopstream/streams/processors/giftcards"
	"github.com/shopstream/streams/topics"
)

// StoreCreditPrefix is the code prefix of store-credit gift cards.
const StoreCreditPrefix = "CREDIT"

// StoreCredit derives the gift card code of a return's store credit. The
// code is HMAC-SHA256(secret, return ID) spelled in the gift card alphabet,
// with the gift card check symbol: deterministic, so a replayed or retried
// saga step creates the same card (the same card key), never a second
// one; secret, so nobody without the secret can compute it. The code is
// never stored or emitted: the saga sends only its key and last four
// characters, and the edge recomputes the code for the customer.
type StoreCredit struct {
	secret []byte
	gen    *giftcards.CodeGenerator
}

// ErrWeakStoreCreditSecret is returned for a secret shorter than
// giftcards.MinSecretLen bytes.
var ErrWeakStoreCreditSecret = errors.New("returns: the store credit secret must be at least 32 bytes")

// NewStoreCredit returns a deriver; cardKeySecret is the gift card
// service's card key secret, codeSecret the returns service's own.
func NewStoreCredit(codeSecret, cardKeySecret []byte) (*StoreCredit, error) {
	if len(codeSecret) < giftcards.MinSecretLen {
		return nil, ErrWeakStoreCreditSecret
	}
	gen, err := giftcards.NewCodeGenerator(cardKeySecret)
	if err != nil {
		return nil, err
	}
	return &StoreCredit{secret: append([]byte(nil), codeSecret...), gen: gen}, nil
}

// Code returns the store-credit code of returnID.
func (s *StoreCredit) Code(returnID string) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte("store-credit\x00" + returnID))
	sum := mac.Sum(nil)
	body := make([]byte, 0, giftcards.DefaultLength+1)
	for i := 0; i < giftcards.DefaultLength; i++ {
		body = append(body, giftcards.Alphabet[sum[i]%byte(len(giftcards.Alphabet))])
	}
	// The check symbol is whichever of the alphabet makes the code valid
	// for the gift card service: exactly one does.
	for i := 0; i < len(giftcards.Alphabet); i++ {
		code := format(append(body, giftcards.Alphabet[i]))
		if giftcards.ValidFormat(code) {
			return code
		}
	}
	panic("returns: no check symbol makes a valid gift card code")
}

// Key returns the card key and last four characters of returnID's card.
func (s *StoreCredit) Key(returnID string) (key, last4 string) {
	key, last4, err := s.gen.Key(s.Code(returnID))
	if err != nil {
		panic("returns: derived an invalid gift card code: " + err.Error())
	}
	return key, last4
}

func format(body []byte) string {
	out := []byte(StoreCreditPrefix)
	for i := 0; i < len(body)-1; i += 4 {
		out = append(out, '-')
		out = append(out, body[i:min(i+4, len(body)-1)]...)
	}
	return string(append(append(out, '-'), body[len(body)-1]))
}

// CodeStoreCreditNotIssued is the code of ErrStoreCreditNotIssued.
const CodeStoreCreditNotIssued = "store_credit_not_issued"

// ErrStoreCreditNotIssued: the return is not refunded as store credit, or
// its gift card has not been issued yet.
var ErrStoreCreditNotIssued = topics.NewError(CodeStoreCreditNotIssued, "no store credit has been issued for this return")

// IssuedCredit is a return's store-credit gift card as its customer sees
// it: the clear code to redeem it with. It is computed at the edge for
// the one answer and never stored, emitted or logged.
type IssuedCredit struct {
	ReturnID string       `json:"return_id"`
	Code     string       `json:"code"`
	Last4    string       `json:"last4"`
	Amount   topics.Money `json:"amount"`
}

// Issued returns r's store-credit card for actor: the return's customer or
// staff (CanReadStoreCredit), once the card was issued (the gift card
// service confirmed it). A derived code whose last four differ from the
// card issued (the secret changed) is an internal error, never a wrong
// code.
func (s *StoreCredit) Issued(r *Return, actor topics.Actor) (*IssuedCredit, error) {
	if err := CanReadStoreCredit(r, actor); err != nil {
		return nil, err
	}
	if (r.RefundMethod != RefundStoreCredit && r.RefundMethod != RefundGiftCard) || !r.Saga.Refunded ||
		r.Saga.GiftCardLast4 == "" || r.ActualRefund == nil {
		return nil, ErrStoreCreditNotIssued.Withf("return %s (%s, refund method %q) has no issued store credit", r.ID, r.Status, r.RefundMethod).
			With("status", string(r.Status))
	}
	code := s.Code(r.ID)
	_, last4 := s.Key(r.ID)
	if last4 != r.Saga.GiftCardLast4 {
		return nil, topics.NewError(topics.CodeInternal, "the store credit secret does not derive the card issued for this return")
	}
	return &IssuedCredit{ReturnID: r.ID, Code: code, Last4: last4,
		Amount: topics.Money{Amount: r.ActualRefund.TotalRefund, Currency: r.Currency}}, nil
}
