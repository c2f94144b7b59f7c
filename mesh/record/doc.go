// Package record is the CITYARRAY wire format: the signed envelope that
// carries every alert, protocol, activation, ack, health report and command
// between nodes (DESIGN §3).
//
// # Envelope
//
// A record is a COSE message (RFC 9052) signed with EdDSA (Ed25519):
//
//	COSE_Sign1 (tag 18), one signer:
//	  [ protected: bstr .cbor {1: -8 (EdDSA), 3: ContentType, 4: kid, ?33: x5chain},
//	    unprotected: {},
//	    payload: bstr .cbor Payload,
//	    signature: bstr .size 64 ]
//
//	COSE_Sign (tag 98), two to four signers (an emergency: server + officer):
//	  [ protected: bstr .cbor {3: ContentType},
//	    unprotected: {},
//	    payload: bstr .cbor Payload,
//	    signatures: [+ [ bstr .cbor {1: -8, 4: kid, ?33: x5chain}, {}, bstr .size 64 ]] ]
//
// The kid is the SHA-256 of the signer's DER certificate; x5chain (RFC 9360)
// carries the certificate and its city CA when a receiver may not have them
// cached. The unprotected headers are always empty.
//
// # Payload
//
// The payload is a CBOR map with small integer keys, in the core
// deterministic encoding of RFC 8949 §4.2.1 (shortest heads, keys sorted,
// definite lengths, empty optional fields omitted):
//
//	1 kind      uint   alert=1 protocol=2 activation=3 cancel=4 update=5 ack=6
//	                   health=7 telemetry=8 anomaly=9 command=10 revocation=11
//	                   update-announcement=12
//	2 tier      uint   informational=1 advisory=2 warning=3 emergency=4 ipaws=5
//	3 scope     tstr   "city" / "zone:<id>" / "device:<id>"
//	4 issued    int    Unix milliseconds
//	5 expires   int    Unix milliseconds, after issued
//	6 origin    tstr   the signer's node id
//	7 seq       uint   per origin, increasing (omitted when 0)
//	8 supersedes [+ bstr .size 32]  ids replaced (update, cancel only)
//	9 body      map    the kind's body: see the body types (Alert, Protocol, …)
//	                   whose integer keys are the `cbor` struct tags
//
// A record's ID is the SHA-256 of its complete signed bytes; it is not in
// the payload. Records are deduplicated by id and ordered by (tier, issued).
//
// # Strictness
//
// Parse accepts exactly one encoding of any record: it rejects records over
// MaxSize, unknown kinds, tiers and fields, duplicate map keys, indefinite
// lengths, tags inside the payload, and any non-canonical form, each with an
// error wrapping one of the Err values that names the problem. Parse checks
// structure and content, not trust: signatures are checked against a key by
// VerifySignature, and package mesh/trust decides whose key that must be.
//
// # Test vectors
//
// testdata/records holds signed records with fixed keys, as hex with a JSON
// description, made by `go generate ./mesh/record` so that another
// implementation can check itself against this one.
package record

//go:generate go run ./internal/genvectors -out ../../testdata/records
