// The web client's service worker: shows the pushes the notifier sends
// (Web Push, decrypted by the browser), one notification per conversation
// (its tag), and removes a deleted message's notification.

self.addEventListener('push', (event) => {
  const push = event.data?.json() ?? {};
  event.waitUntil((async () => {
    if (push.kind === 'WITHDRAW') {
      for (const shown of await self.registration.getNotifications({ tag: push.tag })) {
        if (shown.data?.messageId === push.messageId) shown.close();
      }
      return;
    }
    await self.registration.showNotification(push.title || 'New message', {
      body: push.body || '',
      // A processed photo's thumbnail (a short-lived link), when there is one.
      ...(push.image ? { image: push.image } : {}),
      tag: push.tag,
      renotify: true,
      data: { conversationId: push.conversationId, messageId: push.messageId },
    });
    if (push.badge !== undefined && navigator.setAppBadge) navigator.setAppBadge(push.badge).catch(() => {});
  })());
});

// Opens (or focuses) the app on the conversation the notification is for.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(`./?c=${encodeURIComponent(event.notification.data?.conversationId ?? '')}`, self.registration.scope);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((w) => new URL(w.url).origin === url.origin);
    if (open) {
      await open.focus();
      open.postMessage({ open: event.notification.data?.conversationId });
    } else {
      await self.clients.openWindow(url.href);
    }
  })());
});
