"""Admin for messages, their variants, and the outbox."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import Delivery, Message, Variant
from campaigns.rendering import template_check
from campaigns.senders import SenderNotVerified, sender_for, verified_senders
from campaigns.services import deliveries_resolve_unknown
from config import clock


class VariantForm(forms.ModelForm):
    """Templates are checked when saved: syntax with line numbers, unknown
    variables, forbidden links and limits, through a sample render."""

    class Meta:
        model = Variant
        fields = ("key", "weight", "subject", "preheader", "html_body", "text_body")

    def clean(self):
        data = super().clean()
        problems = template_check(
            subject=data.get("subject", ""),
            preheader=data.get("preheader", ""),
            html=data.get("html_body", ""),
            text=data.get("text_body", ""),
        )
        if problems:
            raise forms.ValidationError([str(problem) for problem in problems])
        return data


class VariantInline(admin.StackedInline):
    model = Variant
    form = VariantForm
    extra = 1


class MessageForm(forms.ModelForm):
    """The sender is picked from the verified senders, never typed."""

    sender = forms.ChoiceField(required=False)

    class Meta:
        model = Message
        fields = ("name", "key", "topic", "sender", "reply_to")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        senders = verified_senders()
        choices = [("", f"Default ({senders[0]})" if senders else "Default")]
        choices += [(sender, sender) for sender in senders]
        current = self.initial.get("sender")
        if current and current not in senders:
            choices.append((current, f"{current} (no longer verified)"))
        self.fields["sender"].choices = choices

    def clean_sender(self):
        sender = self.cleaned_data["sender"]
        try:
            sender_for(sender)
        except SenderNotVerified as exc:
            raise forms.ValidationError(str(exc)) from None
        return sender


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    form = MessageForm
    list_display = ("name", "key", "topic", "sender", "updated_at")
    search_fields = ("key", "name")
    fields = ("name", "key", "topic", "sender", "reply_to")
    prepopulated_fields = {"key": ("name",)}
    inlines = (VariantInline,)

    def save_model(self, request, obj, form, change):
        obj.updated_at = clock.now()
        super().save_model(request, obj, form, change)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "message",
        "variant",
        "status",
        "journey_key",
        "step_key",
        "queued_at",
        "attempts",
        "sent_at",
        "opened_at",
        "clicked_at",
        "unsubscribed_at",
        "error",
    )
    list_filter = ("status", "message", "journey_key")
    actions = ("mark_sent", "queue_again")
    date_hierarchy = "queued_at"
    search_fields = ("customer__email",)
    raw_id_fields = ("customer",)
    list_select_related = ("customer", "message", "variant")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_resolve_permission(self, request):
        """Resolving UNKNOWN deliveries is a change, though rows are never edited."""
        return request.user.has_perm("campaigns.change_delivery")

    def changelist_view(self, request, extra_context=None):
        """Say so whenever deliveries are UNKNOWN: they need a person's decision."""
        unknown = Delivery.objects.filter(status=Delivery.Status.UNKNOWN).count()
        if unknown:
            url = reverse("admin:campaigns_delivery_changelist") + "?status__exact=unknown"
            self.message_user(
                request,
                format_html(
                    '{} deliveries are <a href="{}">unknown</a>: a worker stopped while '
                    "handing them to the provider. Check the provider's log, then use "
                    "“Mark as sent” or “Queue again”. Ladder never sends them again on its own.",
                    unknown,
                    url,
                ),
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    @admin.action(
        permissions=["resolve"], description="Unknown: mark as sent (the provider has it)"
    )
    def mark_sent(self, request, queryset):
        self._resolve(request, queryset, sent=True)

    @admin.action(
        permissions=["resolve"], description="Unknown: queue again (the provider lacks it)"
    )
    def queue_again(self, request, queryset):
        self._resolve(request, queryset, sent=False)

    def _resolve(self, request, queryset, *, sent: bool) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        changed = deliveries_resolve_unknown(ids=ids, sent=sent, at=clock.now())
        skipped = len(ids) - changed
        note = f" ({skipped} were not unknown and did not change)" if skipped else ""
        self.message_user(request, f"{changed} deliveries updated{note}.", messages.SUCCESS)
