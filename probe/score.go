package probe

// Scoring, out of 100, one host at a time. A failed stage costs what it
// means for a sending MTA:
//   - no TLS at all (resolve, connect, banner, ehlo, starttls, handshake
//     fail): the score is 0, because every peer then delivers in plaintext
//     or not at all;
//   - trust, expiry, fingerprint: 40 (peers that verify refuse the server,
//     or apply's certificate is not the one served);
//   - hostname: 30 (DANE and MTA-STS peers refuse; opportunistic ones don't);
//   - chain order, required mode not enforced: 25;
//   - MAIL over TLS refused: 20.
//
// A warning costs 5, or 10 for expiry (it needs the admin to act within
// weeks); a skipped stage costs nothing. The score never goes below 0.
func failCost(stage string) int {
	switch stage {
	case StageResolve, StageConnect, StageBanner, StageEHLO, StageSTARTTLS, StageHandshake:
		return 100
	case StageTrust, StageExpiry, StageFingerprint:
		return 40
	case StageHostname:
		return 30
	case StageChain, StageRequired:
		return 25
	case StageMail:
		return 20
	}
	return 25
}

func warnCost(stage string) int {
	if stage == StageExpiry {
		return 10
	}
	return 5
}

func score(stages []Stage) int {
	s := 100
	for _, st := range stages {
		switch st.Status {
		case Fail:
			s -= failCost(st.Name)
		case Warn:
			s -= warnCost(st.Name)
		}
	}
	return max(s, 0)
}
