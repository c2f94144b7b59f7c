package auth

import (
	"crypto/cipher"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"
)

// The buckets this package owns in the shared bbolt file. Keys and values
// are documented in doc.go (# Storage).
var (
	bucketMeta     = []byte("auth.meta")
	bucketUsers    = []byte("auth.users")
	bucketSessions = []byte("auth.sessions")
	bucketTokens   = []byte("auth.tokens")
	schemaKey      = []byte("schema")
)

const schemaVersion = "1"

// Service is people and access for the control server: users, passwords,
// TOTP, sessions, API tokens, RBAC, rate limits and the audit hook. It is
// safe for concurrent use.
type Service struct {
	db     *bbolt.DB
	opts   Options
	hash   *hasher
	aead   cipher.AEAD
	origin *http.CrossOriginProtection

	loginIP, loginUser     *keyedLimiter
	requestIP, requestUser *keyedLimiter
	phantom                *phantomLockouts
}

// New opens the service on db, creating its buckets if they do not exist.
// The caller keeps ownership of db. It returns every problem with opts at
// once.
func New(db *bbolt.DB, opts Options) (*Service, error) {
	if db == nil {
		return nil, wrap("new", fmt.Errorf("%w: nil database", ErrInvalid))
	}
	if err := opts.validate(); err != nil {
		return nil, wrap("new", fmt.Errorf("%w: options: %w", ErrInvalid, err))
	}
	opts.DataKey = append([]byte(nil), opts.DataKey...)
	opts.CSRFKey = append([]byte(nil), opts.CSRFKey...)
	aead, err := chacha20poly1305.NewX(opts.DataKey)
	if err != nil {
		return nil, wrap("new", err)
	}
	h, err := newHasher(opts.Argon2, opts.Rand, opts.MaxHashes)
	if err != nil {
		return nil, wrap("new", err)
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, wrap("new", err)
		}
	}
	s := &Service{
		db: db, opts: opts, hash: h, aead: aead, origin: cop,
		loginIP:     newKeyedLimiter(opts.Rate.LoginPerIP, opts.Rate.MaxKeys),
		loginUser:   newKeyedLimiter(opts.Rate.LoginPerUser, opts.Rate.MaxKeys),
		requestIP:   newKeyedLimiter(opts.Rate.RequestPerIP, opts.Rate.MaxKeys),
		requestUser: newKeyedLimiter(opts.Rate.RequestPerUser, opts.Rate.MaxKeys),
		phantom:     newPhantomLockouts(opts.Rate.MaxKeys),
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketUsers, bucketSessions, bucketTokens} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(schemaKey); {
		case v == nil:
			return meta.Put(schemaKey, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("schema %q, this version reads %q", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("new", err)
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.opts.Clock.Now() }

// getJSON reads key from bucket into v; it reports false if absent.
func getJSON(tx *bbolt.Tx, bucket, key []byte, v any) (bool, error) {
	data := tx.Bucket(bucket).Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s %x: %w", bucket, key, err)
	}
	return true, nil
}

func putJSON(tx *bbolt.Tx, bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key, data)
}

// forEachJSON decodes every value of bucket into a T and calls fn with
// its key. what names the values in errors ("session 0a1b…: …").
func forEachJSON[T any](tx *bbolt.Tx, bucket []byte, what string, fn func(key []byte, r *T) error) error {
	return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%s %x: %w", what, k[:8], err)
		}
		return fn(k, &r)
	})
}

// findJSON returns the key and the value of the last value of bucket that
// match accepts, or ErrNotFound.
func findJSON[T any](tx *bbolt.Tx, bucket []byte, what string, match func(key []byte, r *T) bool) ([]byte, *T, error) {
	var key []byte
	var found *T
	err := forEachJSON(tx, bucket, what, func(k []byte, r *T) error {
		if match(k, r) {
			key, found = append([]byte(nil), k...), r
		}
		return nil
	})
	if err == nil && key == nil {
		err = ErrNotFound
	}
	return key, found, err
}

// deleteJSON deletes every value of bucket that dead accepts and returns
// how many.
func deleteJSON[T any](tx *bbolt.Tx, bucket []byte, what string, dead func(r *T) bool) (int, error) {
	var keys [][]byte
	err := forEachJSON(tx, bucket, what, func(k []byte, r *T) error {
		if dead(r) {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	b := tx.Bucket(bucket)
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// getUser returns the user record with id, or ErrNotFound.
func getUser(tx *bbolt.Tx, id string) (*userRecord, error) {
	var u userRecord
	ok, err := getJSON(tx, bucketUsers, []byte(id), &u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return &u, nil
}

func putUser(tx *bbolt.Tx, u *userRecord) error {
	return putJSON(tx, bucketUsers, []byte(u.ID), u)
}
