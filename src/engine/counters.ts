/**
 * Per-device data-path counters (rxe's hw_counters): every drop, NAK and
 * retry is counted, so a malformed or unexpected packet leaves a trace
 * instead of an exception.
 */
export function newEngineCounters() {
  return {
    pktsSent: 0,
    pktsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    trainsSent: 0,
    trainsReceived: 0,
    /** Packets whose ICRC did not match (a corrupted packet on a link that carries ICRCs): dropped, as a NIC does. */
    icrcErrors: 0,
    /** Packets the codec refused (short header, unknown opcode ...). */
    badPackets: 0,
    /** Packets for a QP that does not exist or is not ours to talk to. */
    unknownQp: 0,
    /** Packets dropped because the QP's state does not accept them. */
    wrongState: 0,
    /** Responder: sequence-error NAKs sent, and out-of-sequence packets dropped. */
    seqNaksSent: 0,
    outOfSeqDropped: 0,
    duplicateRequests: 0,
    rnrNaksSent: 0,
    /** NAKs for invalid request / remote access / remote operational errors. */
    errorNaksSent: 0,
    /** errorNaksSent by syndrome: 0x61 invalid request, 0x62 remote access error, 0x63 remote operational error. */
    invalidRequestNaksSent: 0,
    remoteAccessNaksSent: 0,
    remoteOperationalNaksSent: 0,
    acksSent: 0,
    /** Completer: retransmissions by timer, by NAK, and RNR retries. */
    timeoutRetries: 0,
    nakRetries: 0,
    rnrRetries: 0,
    /** Sequence NAKs ignored: a NAK-driven retry was already under way, with no progress since (rxe's started_retry). */
    duplicateNaks: 0,
    /** Responses that matched no outstanding WQE. */
    strayResponses: 0,
  }
}
export type EngineCounters = ReturnType<typeof newEngineCounters>
