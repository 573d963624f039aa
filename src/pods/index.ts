// Pod naming: the directory shape, the lab's names, and the start of a session's chosen source.
export { PodDirectory, PodInfo } from './directory';
export { LabNodeIdentity, labNodeOf, labPodDirectory } from './lab';
export { PodNameSource, PodNames, startPodNames } from './source';
