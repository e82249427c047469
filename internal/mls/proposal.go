package mls

// ProposalType identifies a proposal (RFC 9420 §12.1, §17.4).
type ProposalType uint16

// Proposal types registered by RFC 9420 §17.4.
const (
	ProposalAdd                    ProposalType = 1
	ProposalUpdate                 ProposalType = 2
	ProposalRemove                 ProposalType = 3
	ProposalPSK                    ProposalType = 4
	ProposalReInit                 ProposalType = 5
	ProposalExternalInit           ProposalType = 6
	ProposalGroupContextExtensions ProposalType = 7
)

var proposalTypeNames = []string{
	1: "add", 2: "update", 3: "remove", 4: "psk", 5: "reinit",
	6: "external_init", 7: "group_context_extensions",
}

func (t ProposalType) String() string { return enumName("ProposalType", proposalTypeNames, t) }
