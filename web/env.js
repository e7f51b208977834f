// urql's published modules read process.env.NODE_ENV, which a bundler would
// replace at build time; nothing is built here, so it is defined here. A
// file, not an inline script: the page's Content-Security-Policy allows no
// inline script but the import map, by its hash.
globalThis.process = { env: { NODE_ENV: 'production' } };
