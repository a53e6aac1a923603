import type { ProxyOptions } from 'vite';
import { defineConfig } from 'vitest/config';

// The API the dev server and `vite preview` forward to (the Go service).
const api = process.env.DOMAINFLOW_API ?? 'http://127.0.0.1:8080';

const proxy: Record<string, ProxyOptions | string> = {
  '/api': {
    target: api,
    ws: true,
    changeOrigin: true,
    // The service accepts WebSockets from its own origin only: present the API's host and origin.
    configure: (p) => {
      p.on('proxyReqWs', (req) => req.setHeader('origin', api));
    },
  },
  '/healthz': api,
};

export default defineConfig({
  // The dashboard is served by the Go service at "/" with the API on the same origin.
  base: '/',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    // Hashed, content-addressed file names only: same inputs give the same files.
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  server: { proxy },
  preview: { proxy },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.{ts,tsx}'],
    setupFiles: ['test/setup.ts'],
    restoreMocks: true,
  },
});
