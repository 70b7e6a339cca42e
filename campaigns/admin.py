"""Admin for messages, their variants, and the outbox."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import validate_email
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from campaigns.models import Delivery, Message, Variant
from campaigns.preview import customer_lookup, variant_preview, variant_test_send
from campaigns.rendering import RenderFailed, template_check
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
    fields = ("name", "key", "topic", "sender", "reply_to", "preview", "ab_report")
    readonly_fields = ("preview", "ab_report")
    prepopulated_fields = {"key": ("name",)}
    inlines = (VariantInline,)

    def save_model(self, request, obj, form, change):
        obj.updated_at = clock.now()
        super().save_model(request, obj, form, change)

    @admin.display(description="Preview")
    def preview(self, obj: Message) -> str:
        if not obj.pk:
            return "Save first, then preview each variant for any customer."
        url = reverse("admin:campaigns_message_preview", args=[obj.pk])
        return format_html_join(
            " · ",
            '<a href="{}?variant={}">Variant {}</a>',
            ((url, v.key, v.key) for v in obj.variants.order_by("key")),
        )

    @admin.display(description="A/B report")
    def ab_report(self, obj: Message) -> str:
        if not obj.pk or obj.variants.count() < 2:
            return "Give the message two or more variants to test them against each other."
        url = reverse("reports:experiment", args=[obj.experiment_key])
        return format_html('<a href="{}">Results of its variants</a>', url)

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/preview/", preview, name="campaigns_message_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request, pk: int):
        """Render a variant for a chosen customer; POST sends it as a test."""
        message = get_object_or_404(Message, pk=pk)
        if not self.has_view_permission(request, message):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        variants = list(message.variants.order_by("key"))
        variant = next((v for v in variants if v.key == data.get("variant")), None)
        variant = variant or (variants[0] if variants else None)
        query = data.get("customer", "")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview {message}",
            "message": message,
            "variants": variants,
            "variant": variant,
            "customer_query": query,
        }
        customer = customer_lookup(query) if query else None
        if query and customer is None:
            context["problem"] = f"There is no customer {query!r}."
        if variant is not None and customer is not None:
            context["customer"] = customer
            try:
                if request.method == "POST":
                    if not self.has_change_permission(request, message):
                        raise PermissionDenied
                    to = request.POST.get("to", "").strip()
                    validate_email(to)
                    context["rendered"] = variant_test_send(
                        variant=variant, customer=customer, to=to
                    )
                    self.message_user(request, f"Test sent to {to}.", messages.SUCCESS)
                else:
                    context["rendered"] = variant_preview(variant=variant, customer=customer)
            except RenderFailed as exc:
                context["problem"] = f"It cannot be rendered: {exc}"
            except forms.ValidationError:
                context["problem"] = "Enter a valid email address to send the test to."
        return TemplateResponse(request, "admin/campaigns/message/preview.html", context)


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
