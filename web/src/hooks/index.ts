export * from './polling';
export * from './context';
export * from './useRetryCountdown';
export * from './usePolledResource';
export * from './useDomainData';
export * from './useDomainStatusSummary';
export * from './useCampaigns';
export * from './useResolvers';
