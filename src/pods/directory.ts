// Pod names behind IPs: the one shape every source (a lab's state, the Kubernetes API) fills and every
// consumer (the API's messages and filters) reads. Knows nothing of where the names come from.

/** A Kubernetes endpoint behind an IP, when the server knows it. */
export interface PodInfo {
  namespace: string;
  name: string;
  node?: string;
  iface?: string;
}

export type PodDirectory = (ip: string) => PodInfo | undefined;
