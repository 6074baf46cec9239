package storage

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// continueToken is the Kubernetes continue token: base64url (unpadded) JSON
// {"v":"meta.k8s.io/v1","rv":REV,"start":"<next key relative to the list prefix>"}.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

const continueAPIVersion = "meta.k8s.io/v1"

// encodeContinue returns the token resuming a list of keyPrefix at nextKey
// (a full key) at revision rev.
func encodeContinue(nextKey, keyPrefix string, rev int64) (string, error) {
	data, err := json.Marshal(continueToken{
		APIVersion:      continueAPIVersion,
		ResourceVersion: rev,
		StartKey:        strings.TrimPrefix(nextKey, keyPrefix),
	})
	if err != nil {
		return "", fmt.Errorf("storage: encode continue token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(data), nil
}

// decodeContinue returns the full key to resume from and the revision of a
// token produced by encodeContinue for keyPrefix. The start key is cleaned so
// a crafted token cannot range outside keyPrefix.
func decodeContinue(token, keyPrefix string) (fromKey string, rev int64, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	var c continueToken
	if err := json.Unmarshal(data, &c); err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	if c.APIVersion != continueAPIVersion {
		return "", 0, fmt.Errorf("%w: unknown version %q", ErrInvalidContinue, c.APIVersion)
	}
	if c.ResourceVersion <= 0 {
		return "", 0, fmt.Errorf("%w: resource version %d", ErrInvalidContinue, c.ResourceVersion)
	}
	if c.StartKey == "" {
		return "", 0, fmt.Errorf("%w: empty start key", ErrInvalidContinue)
	}
	key := c.StartKey
	if !strings.HasPrefix(key, "/") {
		key = "/" + key
	}
	if cleaned := path.Clean(key); cleaned != key {
		return "", 0, fmt.Errorf("%w: start key %q", ErrInvalidContinue, c.StartKey)
	}
	return keyPrefix + key[1:], c.ResourceVersion, nil
}
