'use strict';
// The compiled addon (node-gyp puts it in build/Release). Loading fails where it was not built
// (no compiler at install time): Ferry then seals and opens with Node's cipher API instead.
module.exports = require('./build/Release/ferry_gcm.node');
