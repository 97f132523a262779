/*
 * pushcast-sw.js: the pushcast service worker.
 *
 * Shows each push as a notification, reports "shown" and "clicked" to the pushcast server
 * (POST /v1/track), opens the message's URL on click, and re-posts the subscription when
 * the browser replaces it. Decisions are pure functions in pushcast-core.js; the handlers
 * are on self.pushcastWorker so that a test can call them without a real click.
 *
 * The server is the payload's `server`, else this script's `?server=` parameter (set by
 * pushcast.js when the API is on another origin), else this worker's origin.
 */
/* global PushcastCore */
importScripts('pushcast-core.js');

(function (self) {
  'use strict';

  var core = PushcastCore;
  // Written by pushcast.js (same origin, Cache Storage): {server, user, userHash, vapidPublicKey}.
  var CONFIG_CACHE = 'pushcast';
  var CONFIG_URL = new URL('/__pushcast__/config', self.location.origin).href;

  function postJSON(url, body, method) {
    return fetch(url, {
      method: method || 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
    }).then(function (response) {
      if (!response.ok) throw new Error(method + ' ' + url + ' answered HTTP ' + response.status);
      return response.status;
    });
  }

  /** POST a shown/clicked report; never throws (a lost report must not lose the notification). */
  function report(payload, type, action) {
    var body = core.trackBody(payload, type, action);
    if (!body) return Promise.resolve(false);
    var url = core.serverOrigin(payload, self.location.href) + '/v1/track';
    return postJSON(url, body, 'POST').then(
      function () { return true; },
      function (error) {
        console.warn('pushcast: could not report "' + type + '":', error);
        return false;
      }
    );
  }

  /** Shows the notification for a push message's text, then reports it shown. */
  function onPush(text) {
    var payload = core.parsePayload(text);
    return self.registration
      .showNotification(core.notificationTitle(payload), core.notificationOptions(payload))
      .then(function () { return report(payload, 'shown', ''); });
  }

  function focusOrOpen(url) {
    return self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === url && 'focus' in windows[i]) return windows[i].focus();
      }
      return self.clients.openWindow(url);
    });
  }

  /**
   * A click on the notification (action '' for its body, else the button's action): close
   * it, open or focus the target URL and report the click, both at once. Resolves to
   * {url, opened, reported, error?}; opening fails outside a real click, reporting does not.
   */
  function onClick(notification, action) {
    var payload = notification.data || {};
    var url = new URL(core.clickTarget(payload, action || ''), self.location.origin).href;
    notification.close();
    return Promise.allSettled([focusOrOpen(url), report(payload, 'clicked', action || '')]).then(
      function (results) {
        var outcome = { url: url, opened: results[0].status === 'fulfilled', reported: results[1].value === true };
        if (!outcome.opened) outcome.error = String(results[0].reason);
        return outcome;
      }
    );
  }

  function readConfig() {
    return caches.open(CONFIG_CACHE)
      .then(function (cache) { return cache.match(CONFIG_URL); })
      .then(function (response) { return response ? response.json() : null; });
  }

  /**
   * The browser replaced the push subscription: subscribe again if it gave no new one,
   * post the new one for the stored user and delete the old endpoint.
   */
  function onSubscriptionChange(oldSubscription, newSubscription) {
    return readConfig().then(function (config) {
      if (!config || !config.user || !config.server) {
        console.warn('pushcast: subscription changed, but no user is stored: the page re-posts it on its next visit');
        return { posted: false };
      }
      var next = newSubscription
        ? Promise.resolve(newSubscription)
        : self.registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey:
              (oldSubscription && oldSubscription.options && oldSubscription.options.applicationServerKey) ||
              core.base64UrlToBytes(config.vapidPublicKey),
          });
      return next.then(function (subscription) {
        var url = config.server + '/v1/subscriptions';
        // user_hash: required by a server that verifies identities (undefined is left out).
        var who = { user: config.user, user_hash: config.userHash };
        return postJSON(url, Object.assign({ subscription: subscription.toJSON() }, who), 'POST').then(function () {
          if (oldSubscription && oldSubscription.endpoint && oldSubscription.endpoint !== subscription.endpoint) {
            return postJSON(url, Object.assign({ endpoint: oldSubscription.endpoint }, who), 'DELETE')
              .catch(function (error) { console.warn('pushcast: could not delete the old subscription:', error); })
              .then(function () { return { posted: true, endpoint: subscription.endpoint }; });
          }
          return { posted: true, endpoint: subscription.endpoint };
        });
      });
    });
  }

  self.addEventListener('install', function () {
    self.skipWaiting();
  });

  self.addEventListener('activate', function (event) {
    event.waitUntil(self.clients.claim());
  });

  self.addEventListener('push', function (event) {
    event.waitUntil(onPush(event.data ? event.data.text() : ''));
  });

  self.addEventListener('notificationclick', function (event) {
    event.waitUntil(onClick(event.notification, event.action));
  });

  self.addEventListener('pushsubscriptionchange', function (event) {
    event.waitUntil(onSubscriptionChange(event.oldSubscription, event.newSubscription));
  });

  self.pushcastWorker = {
    onPush: onPush,
    onClick: onClick,
    onSubscriptionChange: onSubscriptionChange,
    report: report,
  };
})(self);
