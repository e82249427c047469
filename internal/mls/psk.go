package mls

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// PSKType tells an external PSK from a resumption PSK (RFC 9420 §8.4).
type PSKType uint8

// PSK types of RFC 9420 §8.4.
const (
	PSKExternal   PSKType = 1
	PSKResumption PSKType = 2
)

var pskTypeNames = []string{1: "external", 2: "resumption"}

// String returns the RFC 9420 name of t.
func (t PSKType) String() string { return enumName("PSKType", pskTypeNames, t) }

// ResumptionPSKUsage tells why a resumption PSK is used (RFC 9420 §8.4).
type ResumptionPSKUsage uint8

// Resumption PSK usages of RFC 9420 §8.4.
const (
	ResumptionApplication ResumptionPSKUsage = 1
	ResumptionReInit      ResumptionPSKUsage = 2
	ResumptionBranch      ResumptionPSKUsage = 3
)

var resumptionPSKUsageNames = []string{1: "application", 2: "reinit", 3: "branch"}

// String returns the RFC 9420 name of u.
func (u ResumptionPSKUsage) String() string {
	return enumName("ResumptionPSKUsage", resumptionPSKUsageNames, u)
}

// PreSharedKeyID names a pre-shared key (RFC 9420 §8.4). PSKID is set for
// external PSKs; Usage, PSKGroupID and PSKEpoch for resumption PSKs.
type PreSharedKeyID struct {
	Type       PSKType
	PSKID      []byte
	Usage      ResumptionPSKUsage
	PSKGroupID []byte
	PSKEpoch   uint64
	PSKNonce   []byte
}

// MarshalMLS implements codec.Marshaler.
func (p *PreSharedKeyID) MarshalMLS(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Type))
	switch p.Type {
	case PSKExternal:
		codec.AddOpaque(b, p.PSKID)
	case PSKResumption:
		b.AddUint8(uint8(p.Usage))
		codec.AddOpaque(b, p.PSKGroupID)
		b.AddUint64(p.PSKEpoch)
	default:
		b.SetError(errUnencodable("pre-shared key id", p.Type))
	}
	codec.AddOpaque(b, p.PSKNonce)
}

// UnmarshalMLS implements codec.Unmarshaler. A resumption usage outside
// application, reinit and branch is rejected: the enum has no registry to
// grow from (RFC 9420 §8.4).
func (p *PreSharedKeyID) UnmarshalMLS(d *codec.Decoder) {
	*p = PreSharedKeyID{Type: checkEnum(d, PSKType(d.Uint8()), PSKResumption)}
	switch p.Type {
	case PSKExternal:
		p.PSKID = d.Opaque()
	case PSKResumption:
		p.Usage = checkEnum(d, ResumptionPSKUsage(d.Uint8()), ResumptionBranch)
		p.PSKGroupID = d.Opaque()
		p.PSKEpoch = d.Uint64()
	}
	p.PSKNonce = d.Opaque()
}

// PSKLabel is the context under which the index-th of count PSKs is mixed
// into the PSK secret (RFC 9420 §8.4).
type PSKLabel struct {
	ID    PreSharedKeyID
	Index uint16
	Count uint16
}

// MarshalMLS implements codec.Marshaler.
func (l *PSKLabel) MarshalMLS(b *cryptobyte.Builder) {
	l.ID.MarshalMLS(b)
	b.AddUint16(l.Index)
	b.AddUint16(l.Count)
}
