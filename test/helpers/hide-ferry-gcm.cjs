// Preloaded with `node --require` (NODE_OPTIONS): the ferry-gcm addon fails to load, as on a
// machine where `npm install` could not build it. Everything else resolves as usual.
'use strict';
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'ferry-gcm') throw Object.assign(new Error("Cannot find module 'ferry-gcm' (hidden by test/helpers/hide-ferry-gcm.cjs)"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
