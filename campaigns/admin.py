"""Admin for messages, their variants, and the outbox."""

from django import forms
from django.contrib import admin

from campaigns.models import Delivery, Message, Variant
from campaigns.rendering import template_check
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


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "topic", "updated_at")
    search_fields = ("key", "name")
    fields = ("name", "key", "topic")
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
        "sent_at",
        "opened_at",
        "clicked_at",
        "unsubscribed_at",
    )
    list_filter = ("status", "message", "journey_key")
    date_hierarchy = "queued_at"
    search_fields = ("customer__email",)
    raw_id_fields = ("customer",)
    list_select_related = ("customer", "message", "variant")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
