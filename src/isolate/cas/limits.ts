/**
 * Per-request limits of the CAS API, shared by the server (which enforces
 * them) and the client (which splits its requests to fit). A module of its
 * own so that the client does not load the server.
 */
export interface CasLimits {
  /** Digests per `missing` request: REAPI's SDK default for FindMissingBlobs. */
  maxMissingDigests: number;
  /** Bytes of one `missing` body; 10,000 digests take about 1 MB of JSON. */
  maxMissingBodyBytes: number;
  /** Bytes of one batch body: big enough to amortize a round trip, small enough to hold in memory. */
  maxBatchBodyBytes: number;
  maxBatchEntries: number;
  /** Largest single blob accepted by PUT. */
  maxBlobBytes: number;
}

export const DEFAULT_CAS_LIMITS: CasLimits = {
  maxMissingDigests: 10_000,
  maxMissingBodyBytes: 2 * 2 ** 20,
  maxBatchBodyBytes: 64 * 2 ** 20,
  maxBatchEntries: 10_000,
  maxBlobBytes: 1 * 2 ** 40,
};
