// Words calitrace uses everywhere (verdicts, protocol names), defined once. Imports nothing: every layer
// may use it.
export { VERDICTS, Verdict, VerdictCounts, isVerdict, emptyVerdictCounts } from './verdicts';
export { PROTOCOLS, PROTOCOL_CHOICES, protocolName, protocolNumber, protocolByName, hasPorts } from './protocols';
