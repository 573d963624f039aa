// Pod names from the Kubernetes API: connection settings (kubeconfig, in-cluster) and a refreshing
// IP → pod directory. Knows nothing of gRPC or the terminal.
export { ClusterConnection, ClusterCredentials, KubeconfigError } from './connection';
export { loadKubeconfig, readKubeconfigFiles, connectionFromKubeconfig, addKubeconfigText, emptyKubeconfig } from './kubeconfig';
export { inClusterConnection, SERVICE_ACCOUNT_DIR } from './in-cluster';
export { discoverConnection, defaultKubeconfigFiles, Discovery, DiscoverOptions, ADMIN_CONF } from './discover';
export { KubeClient, KubeApiError } from './api-client';
export { KubePod, podsByIp, listAllPods } from './pod-list';
export { KubePodDirectory, KubePodDirectoryOptions } from './pod-directory';
export { KubeNodeAddresses, internalIps } from './node-addresses';
