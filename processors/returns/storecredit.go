package returns

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"

	"github.com/shopstream/streams/processors/giftcards"
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
