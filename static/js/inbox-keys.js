// Keyboard shortcuts of the moderation inbox (listed on the page, in "Raccourcis clavier"):
//   j / k  next / previous message of the list (the focus moves to its link)
//   r      answer: opens the message at its reply field (on a message: goes to the field)
//   e      close the message
//   a      take the message ("Je m'en occupe")
// Nothing happens while typing in a field, or with Ctrl, Alt or Meta held.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function listItems() {
    return Array.prototype.slice.call(document.querySelectorAll("ul.inbox > li[data-item]"));
  }

  function current(items) {
    var active = document.activeElement;
    for (var i = 0; i < items.length; i++) {
      if (items[i].contains(active)) {
        return i;
      }
    }
    return -1;
  }

  function focusItem(items, index) {
    if (index < 0 || index >= items.length) {
      return;
    }
    var link = items[index].querySelector("a.item-link");
    if (link) {
      link.focus();
      link.scrollIntoView({ block: "nearest" });
    }
  }

  function bulkOne(item, action) {
    // The list's bulk form, with only this message ticked.
    var form = document.getElementById("bulk");
    var choice = document.getElementById("bulk-action");
    if (!form || !choice) {
      return;
    }
    document.querySelectorAll("input[name=items][form=bulk]").forEach(function (box) {
      box.checked = box.value === item.getAttribute("data-item");
    });
    choice.value = action;
    form.submit();
  }

  function clickButton(value) {
    var button = document.querySelector('#h-actions ~ .actions button[value="' + value + '"]');
    if (button) {
      button.click();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) {
      return;
    }
    var key = event.key;
    if (["j", "k", "r", "e", "a"].indexOf(key) === -1) {
      return;
    }
    var items = listItems();
    if (items.length) {
      var index = current(items);
      if (key === "j") {
        focusItem(items, index + 1);
      } else if (key === "k") {
        focusItem(items, index < 0 ? 0 : index - 1);
      } else if (index >= 0) {
        var item = items[index];
        if (key === "r") {
          window.location.href = item.querySelector("a.item-link").href + "#reply-text";
        } else {
          bulkOne(item, key === "e" ? "close" : "assign_me");
        }
      }
      event.preventDefault();
      return;
    }
    // On a message's page.
    if (key === "r") {
      var field = document.getElementById("reply-text");
      if (field) {
        field.focus();
        event.preventDefault();
      }
    } else if (key === "e") {
      clickButton("clos");
    } else if (key === "a") {
      clickButton("assign_me");
    }
  });

  // Opened at its reply field (the list's "r"): put the cursor there.
  if (window.location.hash === "#reply-text") {
    var reply = document.getElementById("reply-text");
    if (reply) {
      reply.focus();
    }
  }
})();
