import { useEffect, useState } from 'react';

/** The screens, addressed by the URL fragment so any path the server serves "/" from works. */
export type Route = { name: 'campaigns' } | { name: 'new' } | { name: 'campaign'; id: string } | { name: 'tokens' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  if (path === '/new' || path === '/campaigns/new') return { name: 'new' };
  if (path === '/tokens' || path === '/tokens/') return { name: 'tokens' };
  const m = /^\/campaigns\/([^/?#]+)\/?$/.exec(path);
  if (m) return { name: 'campaign', id: decodeURIComponent(m[1]) };
  return { name: 'campaigns' };
}

export function hrefFor(route: Route): string {
  switch (route.name) {
    case 'new':
      return '#/new';
    case 'campaign':
      return `#/campaigns/${encodeURIComponent(route.id)}`;
    case 'tokens':
      return '#/tokens';
    default:
      return '#/';
  }
}

export function navigate(route: Route): void {
  window.location.hash = hrefFor(route).slice(1);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
