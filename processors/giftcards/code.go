package giftcards

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/shopstream/streams/topics"
)

// Alphabet is the set of symbols in a code's body: digits and upper-case
// letters without the look-alikes 0/O, 1/I. 32 symbols, 5 bits each.
const Alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// Code defaults and limits.
const (
	// DefaultPrefix is the prefix of a single card's code.
	DefaultPrefix = "GIFT"
	// BulkPrefix is the default prefix of bulk-created promotion cards.
	BulkPrefix = "PROMO"
	// DefaultLength is the number of random symbols in a code's body.
	DefaultLength = 16
	// MinLength keeps at least 80 bits of entropy (16 symbols of 5 bits).
	MinLength = 16
	// MaxLength bounds a code's body.
	MaxLength = 32
	// groupSize is the number of symbols between dashes.
	groupSize = 4
)

// EntropyBits is the entropy of a code with length random symbols.
func EntropyBits(length int) float64 { return float64(length) * 5 }

// MinSecretLen is the minimum length of the card key secret.
const MinSecretLen = 32

// ErrWeakSecret is returned by NewCodeGenerator for a secret shorter than
// MinSecretLen bytes.
var ErrWeakSecret = errors.New("giftcards: the card key secret must be at least 32 bytes")

// CodeGenerator generates codes, validates their format and check symbol,
// and derives card keys (HMAC-SHA256 of the normalized code under a secret).
// It is what the edge (HTTP API, CLI) uses; processors never see a code.
type CodeGenerator struct {
	secret []byte
}

// NewCodeGenerator returns a generator keyed by secret.
func NewCodeGenerator(secret []byte) (*CodeGenerator, error) {
	if len(secret) < MinSecretLen {
		return nil, ErrWeakSecret
	}
	return &CodeGenerator{secret: append([]byte(nil), secret...)}, nil
}

// Generate returns a new code "PREFIX-XXXX-XXXX-XXXX-XXXX-C": length symbols
// from crypto/rand in groups of four, then the check symbol C. prefix is
// upper-cased; "" means DefaultPrefix and length 0 means DefaultLength.
func (g *CodeGenerator) Generate(prefix string, length int) (string, error) {
	prefix, err := normalizePrefix(prefix)
	if err != nil {
		return "", err
	}
	if length == 0 {
		length = DefaultLength
	}
	if length < MinLength || length > MaxLength {
		return "", topics.ErrInvalidRequest.Withf("code length must be between %d and %d, got %d", MinLength, MaxLength, length)
	}
	body := make([]byte, length)
	n := big.NewInt(int64(len(Alphabet)))
	for i := range body {
		v, err := rand.Int(rand.Reader, n)
		if err != nil {
			return "", fmt.Errorf("giftcards: reading crypto/rand: %w", err)
		}
		body[i] = Alphabet[v.Int64()]
	}
	body = append(body, checkSymbol(body))
	return format(prefix, body), nil
}

func format(prefix string, body []byte) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i < len(body)-1; i += groupSize {
		b.WriteByte('-')
		b.Write(body[i:min(i+groupSize, len(body)-1)])
	}
	b.WriteByte('-')
	b.WriteByte(body[len(body)-1])
	return b.String()
}

func normalizePrefix(p string) (string, error) {
	p = strings.ToUpper(strings.TrimSpace(p))
	if p == "" {
		return DefaultPrefix, nil
	}
	if len(p) < 2 || len(p) > 10 {
		return "", topics.ErrInvalidRequest.Withf("code prefix must have 2 to 10 letters")
	}
	for _, r := range p {
		if r < 'A' || r > 'Z' {
			return "", topics.ErrInvalidRequest.Withf("code prefix must have letters A-Z only")
		}
	}
	return p, nil
}

// Normalize parses code, case-insensitively and ignoring blanks and
// dashes between groups, and checks its check symbol. It returns the
// canonical form "PREFIX-BODY" (body without dashes, check symbol
// included). Every malformed code is ErrInvalidCode with the same message,
// so the error says nothing about what was wrong.
func Normalize(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	// the prefix ends at the first dash or blank: "GIFT-F742…" as printed,
	// "GIFT F742 …" as read out
	cut := strings.IndexAny(code, "- ")
	if cut < 0 {
		return "", ErrInvalidCode
	}
	prefix, rest := code[:cut], code[cut+1:]
	if p, err := normalizePrefix(prefix); err != nil || prefix == "" || p != prefix {
		return "", ErrInvalidCode
	}
	body := make([]byte, 0, len(rest))
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case strings.IndexByte(Alphabet, c) < 0:
			return "", ErrInvalidCode
		}
		body = append(body, c)
	}
	if len(body) < MinLength+1 || len(body) > MaxLength+1 {
		return "", ErrInvalidCode
	}
	want := checkSymbol(body[:len(body)-1])
	if subtle.ConstantTimeByteEq(want, body[len(body)-1]) != 1 {
		return "", ErrInvalidCode
	}
	return prefix + "-" + string(body), nil
}

// ValidFormat reports whether code is well formed with a correct check
// symbol (the seed's valid_format?).
func ValidFormat(code string) bool {
	_, err := Normalize(code)
	return err == nil
}

// Key returns the card key of code: hex HMAC-SHA256 of its normalized form
// under the generator's secret, and the code's last four characters. An
// invalid code is ErrInvalidCode, found without any lookup.
func (g *CodeGenerator) Key(code string) (key, last4 string, err error) {
	n, err := Normalize(code)
	if err != nil {
		return "", "", err
	}
	mac := hmac.New(sha256.New, g.secret)
	mac.Write([]byte(n))
	return hex.EncodeToString(mac.Sum(nil)), n[len(n)-4:], nil
}

// Matches reports, in constant time, whether code is the code of key.
func (g *CodeGenerator) Matches(code, key string) bool {
	k, _, err := g.Key(code)
	if err != nil {
		return false
	}
	return EqualSecret(k, key)
}

// EqualSecret compares two secrets (keys, tokens) in time that depends only
// on their lengths, never on where they differ.
func EqualSecret(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}

// ValidKey reports whether key has the shape of a card key (64 hex digits).
func ValidKey(key string) bool {
	if len(key) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(key)
	return err == nil
}

// checkSymbol is the Luhn mod N check symbol of body over Alphabet: it
// catches every single-symbol substitution and adjacent transpositions.
func checkSymbol(body []byte) byte {
	const n = len(Alphabet)
	factor, sum := 2, 0
	for i := len(body) - 1; i >= 0; i-- {
		add := factor * strings.IndexByte(Alphabet, body[i])
		factor = 3 - factor
		sum += add/n + add%n
	}
	return Alphabet[(n-sum%n)%n]
}
