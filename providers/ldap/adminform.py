"""The admin UI's guided form for an LDAP directory or Active Directory (see
``providers/adminform.py``): the inputs, their groups and hints, and the checks it offers."""

from __future__ import annotations

from providers.adminform import CHOICE, CHOICES, FLAG, LINES, SECRET, AdminForm, FormField

_DIRECTORY, _ACCOUNT, _USERS, _GROUPS = "Directory", "Service account", "Users", "Groups"

ADMIN_FORM = AdminForm(
    label="LDAP or Active Directory",
    add_label="Add an LDAP or AD directory",
    fields=(
        FormField(
            "preset",
            "preset",
            "Kind of directory",
            CHOICE,
            _DIRECTORY,
            hint="Fills in the user filter, attributes, group strategy and account state; anything "
            "you type below wins.",
            choice_labels={"openldap": "OpenLDAP", "active_directory": "Active Directory"},
            other_choice="Other (no preset)",
        ),
        FormField(
            "servers",
            "servers",
            "Servers",
            LINES,
            _DIRECTORY,
            hint="One URL per line, ldap:// or ldaps://, tried in this order (failover).",
            required=True,
            missing="Enter at least one server URL.",
        ),
        FormField("start_tls", "start_tls", "StartTLS on ldap:// servers", FLAG, _DIRECTORY),
        FormField(
            "bind_dn",
            "bind.dn",
            "Bind DN",
            group=_ACCOUNT,
            hint="The account that searches for users. Leave empty for anonymous searches.",
            missing="Enter the bind DN.",
            covers=("bind",),
        ),
        FormField(
            "bind_password",
            "bind.password",
            "Bind password",
            SECRET,
            _ACCOUNT,
            hint="Stored encrypted; never shown again.",
            missing="Enter the bind password.",
            stored_hint="A password is stored (encrypted). Leave empty to keep it; type it again "
            "when you change the servers or TLS.",
        ),
        FormField(
            "user_base",
            "user.base",
            "User search base",
            group=_USERS,
            hint="Such as ou=people,dc=example,dc=com",
            required=True,
            missing="Enter the user search base.",
            covers=("user",),
        ),
        FormField(
            "user_filter",
            "user.filter",
            "User filter",
            group=_USERS,
            hint="With {username}. Empty: the preset's.",
        ),
        FormField(
            "username_attribute",
            "user.username_attribute",
            "Username attribute",
            group=_USERS,
            hint="Empty: the preset's (uid, or sAMAccountName for AD).",
            maxlength=128,
        ),
        FormField(
            "quota_attribute",
            "user.quota_attribute",
            "Quota attribute",
            group=_USERS,
            hint="An attribute holding the user's quota in MB, if any.",
            maxlength=128,
        ),
        FormField(
            "groups_base",
            "groups.base",
            "Group search base",
            group=_GROUPS,
            hint="Needed unless only memberOf is read without nesting.",
            covers=("groups",),
        ),
        FormField(
            "group_strategies",
            "groups.strategies",
            "How groups are found",
            CHOICES,
            _GROUPS,
            hint="member_of: the user's memberOf; member: groups naming the user's DN; member_uid: "
            "posixGroup memberUid; in_chain: AD's transitive search.",
        ),
        FormField("nested", "groups.nested", "Follow nested groups", FLAG, _GROUPS),
    ),
    new_values={"preset": "openldap", "group_strategies": ["member"], "nested": True, "enabled": True},
    checks=("connection", "search", "groups"),
)
