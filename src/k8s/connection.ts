// How to reach one Kubernetes API server and who to be there: what a kubeconfig or the in-cluster
// service account boils down to once files are read and base64 decoded.

export interface ClusterCredentials {
  /** A bearer token given inline. */
  token?: string;
  /** A bearer token read from this file before every request: service account tokens rotate. */
  tokenFile?: string;
  /** Client certificate and key (PEM), for users that authenticate with x509. */
  cert?: Buffer;
  key?: Buffer;
}

export interface ClusterConnection {
  /** https://host:port, possibly with a path prefix (some proxies serve the API below one). */
  server: string;
  /** PEM bundle to verify the server with; undefined means the system's CAs. */
  ca?: Buffer;
  insecureSkipTlsVerify: boolean;
  /** The name to expect in the server certificate when it differs from the host in `server`. */
  tlsServerName?: string;
  credentials: ClusterCredentials;
  /** Where these settings came from, for the one line that tells the user (no secrets in it). */
  source: string;
}

/** A connection setting that cannot be used, with the fix in the message. */
export class KubeconfigError extends Error {}
