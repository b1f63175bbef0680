// Loop prevention and change events for BillingAccount__c: see BillingSyncTrigger.
trigger BillingAccountTrigger on BillingAccount__c (before insert, before update, after insert, after update, after delete, after undelete) {
    BillingSyncTrigger.handle();
}
