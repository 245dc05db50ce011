import { defineConfig } from 'vitest/config'

// Django serves `frontend/dist` under `/static/frontend/` and reads
// `dist/.vite/manifest.json` (key `src/main.ts`) to find the hashed file names.
export default defineConfig({
  base: '/static/frontend/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    manifest: true,
    rollupOptions: {
      input: 'src/main.ts',
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    restoreMocks: true,
    unstubGlobals: true,
  },
})
