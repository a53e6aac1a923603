// DomainFlow web: the typed API client, the realtime client and the polling hooks.
export * from './api/types';
export * from './api/errors';
export * from './api/client';
export * from './realtime';
export * from './hooks';
