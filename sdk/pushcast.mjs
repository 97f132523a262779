// pushcast.mjs: the pushcast SDK as an ES module. pushcast.js is the implementation (a
// plain script that also sets the global Pushcast); this file only re-exports it.
//
//   import Pushcast from '/sdk/pushcast.mjs';
//   import { init, subscribe, track } from '/sdk/pushcast.mjs';
import './pushcast.js';

const Pushcast = globalThis.Pushcast;
export default Pushcast;
export const { init, identify, subscribe, register, unsubscribe, sync, track, state, supported } = Pushcast;
